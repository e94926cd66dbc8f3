"""python manage.py edge_forward: an edge node's MPPS forwarder (docs/edge.md).
Runs until SIGTERM: forwards the outbox to the centre's gateway in order and
reports the edge's state. With --list it shows the outbox; --retry ID puts a
refused message back in the queue."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone
from prometheus_client.registry import REGISTRY

from edge.forwarder import Forwarder
from edge.metrics import EdgeCollector
from edge.models import OutboxMessage, OutboxState
from monitoring.heartbeat import Heartbeat
from monitoring.metrics import serve_metrics


class Command(BaseCommand):
    help = "Edge node: forward accepted MPPS to the centre and report the edge's state (docs/edge.md)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--list", action="store_true", help="Show the messages not yet forwarded, and exit.")
        parser.add_argument("--retry", type=int, metavar="ID", help="Queue a refused message again, and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.RIS_ROLE != "edge":
            raise CommandError("edge_forward runs on an edge node (RIS_ROLE=edge, RIS_SITE=…).")
        if options["list"]:
            self._list()
            return
        if options["retry"]:
            updated = OutboxMessage.objects.filter(pk=options["retry"], state=OutboxState.REFUSED).update(
                state=OutboxState.PENDING, attempts=0, in_doubt=False, next_attempt_at=timezone.now(), last_error=""
            )
            if not updated:
                raise CommandError(f"No refused message #{options['retry']}.")
            self.stdout.write(f"#{options['retry']} queued again")
            return
        if not settings.EDGE_CENTRAL_HOST:
            raise CommandError("EDGE_CENTRAL_HOST (the centre's gateway) is not set.")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        REGISTRY.register(EdgeCollector())
        serve_metrics(settings.EDGE_METRICS_PORT, settings.METRICS_BIND, service="edge_forward")
        heartbeat = Heartbeat("edge_forward", f"{settings.RIS_SITE} -> {settings.EDGE_CENTRAL_HOST}").start()
        try:
            Forwarder(stop=stop).run()
        finally:
            heartbeat.stop()

    def _list(self) -> None:
        messages = OutboxMessage.objects.filter(~Q(state=OutboxState.FORWARDED)).order_by("pk")
        if not messages:
            self.stdout.write("The outbox is empty: everything was forwarded.")
            return
        for m in messages:
            when = timezone.localtime(m.created_at).strftime("%d/%m/%Y %H:%M:%S")
            self.stdout.write(
                f"#{m.pk} {when} {m.operation} {m.sop_instance_uid} accession={m.accession_number or '—'} "
                f"{m.state} attempts={m.attempts} {m.last_error}"
            )
