"""A service process's heartbeat: one ServiceHeartbeat row per run, its ``last_seen``
moved on every HEARTBEAT_SECONDS by a thread of its own. The SLA page counts the time
no run of a service was seen as that service's downtime; ris_check shows the last one."""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from monitoring.models import ServiceHeartbeat

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, service: str, detail: str = "", interval: float | None = None):
        self.service = service
        self.detail = detail[:200]
        self.interval = interval if interval is not None else settings.HEARTBEAT_SECONDS
        self.row_id: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{service}-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _beat(self) -> None:
        now = timezone.now()
        if self.row_id is None:
            self.row_id = ServiceHeartbeat.objects.create(
                service=self.service,
                host=socket.gethostname()[:128],
                pid=os.getpid(),
                started_at=now,
                last_seen=now,
                detail=self.detail,
            ).pk
        else:
            ServiceHeartbeat.objects.filter(pk=self.row_id).update(last_seen=now)

    def _run(self) -> None:
        while True:
            try:
                self._beat()
            except DatabaseError:
                # the database is away: the gap shows as downtime only if the service is also away
                # by then; the next beat that works continues this run's row
                logger.warning("%s heartbeat not recorded: database unavailable", self.service)
                connection.close()
            if self._stop.wait(self.interval):
                break
        try:
            if self.row_id is not None:
                ServiceHeartbeat.objects.filter(pk=self.row_id).update(last_seen=timezone.now(), stopped=True)
        except DatabaseError:
            logger.warning("%s heartbeat: the clean stop was not recorded", self.service)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
