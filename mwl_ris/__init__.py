"""mini-RIS project package. The Celery app loads with Django so that
``shared_task`` tasks bind to it (Celery's documented Django layout)."""

from __future__ import annotations

from mwl_ris.celery import app as celery_app

__all__ = ("celery_app",)
