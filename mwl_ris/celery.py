"""The Celery application, as Celery documents it for Django.

Broker: CELERY_BROKER_URL (Redis in production); without it, kombu's
filesystem transport under var/celery, so the quick start needs no Redis."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mwl_ris.settings")

app = Celery("mwl_ris")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
