"""gunicorn's settings for the web app under systemd (deploy/systemd/mwl-ris-web.service)."""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")  # nginx in front (deploy/nginx/mwl-ris.conf)
workers = int(os.environ.get("WEB_WORKERS", "3"))
timeout = 60
accesslog = "-"
forwarded_allow_ips = "127.0.0.1"


def child_exit(server: Any, worker: Any) -> None:
    """A worker that ended leaves the live sums of /metrics (prometheus_client multiprocess mode)."""
    from monitoring.metrics import mark_process_dead

    mark_process_dead(worker.pid)
