"""python manage.py hl7_listener: the HL7 v2 MLLP server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from hl7_interface.listener import Listener
from monitoring.heartbeat import Heartbeat
from monitoring.metrics import serve_metrics
from mwl_ris.lib import tls
from mwl_ris.lib.db import set_statement_timeout

logger = logging.getLogger("hl7_interface")


def listener_tls_context() -> ssl.SSLContext | None:
    """The TLS port's context from the HL7_TLS_* settings (None: no TLS port)."""
    if not settings.HL7_TLS_PORT:
        return None
    try:
        return tls.service_server_context(
            service="hl7_listener",
            port=settings.HL7_TLS_PORT,
            cert_file=settings.HL7_TLS_CERT_FILE,
            key_file=settings.HL7_TLS_KEY_FILE,
            ca_file=settings.HL7_TLS_CA_FILE,
            require_client_cert=settings.HL7_TLS_REQUIRE_CLIENT_CERT,
            logger=logger,
        )
    except tls.TLSConfigError as exc:
        raise CommandError(f"HL7 TLS: {exc}") from exc


class Command(BaseCommand):
    help = "Receive HL7 v2 messages (ADT, ORM^O01, OMI^O23) over MLLP until SIGTERM/SIGINT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=settings.HL7_PORT)
        parser.add_argument("--bind", default=settings.HL7_BIND)
        parser.add_argument("--workers", type=int, default=settings.HL7_WORKERS)

    def handle(self, *args: Any, **options: Any) -> None:
        set_statement_timeout(settings.HL7_DB_STATEMENT_TIMEOUT_MS)
        context = listener_tls_context()
        asyncio.run(self._serve(options["bind"], options["port"], max(1, options["workers"]), context))

    async def _serve(self, bind: str, port: int, workers: int, context: ssl.SSLContext | None) -> None:
        listener = Listener(
            host=bind,
            port=port,
            workers=workers,
            max_bytes=settings.HL7_MAX_MESSAGE_BYTES,
            frame_timeout=settings.HL7_FRAME_TIMEOUT,
            idle_timeout=settings.HL7_IDLE_TIMEOUT,
            max_connections=settings.HL7_MAX_CONNECTIONS,
            max_connections_per_peer=settings.HL7_MAX_CONNECTIONS_PER_PEER,
            allowed_peers=frozenset(settings.HL7_ALLOWED_PEERS),
            tls=context,
            tls_port=settings.HL7_TLS_PORT,
            plain=not settings.HL7_TLS_ONLY,
        )
        await listener.start()
        logger.info(
            "hl7_listener listening pid=%d bind=%s port=%s tls_port=%s workers=%d max_message_bytes=%d "
            "default_charset=%s allowed_peers=%s time_zone=%s database=%s",
            os.getpid(),
            bind,
            listener.port or "off",
            listener.tls_port or "off",
            workers,
            settings.HL7_MAX_MESSAGE_BYTES,
            settings.HL7_DEFAULT_CHARSET,
            ",".join(settings.HL7_ALLOWED_PEERS) or "any",
            settings.TIME_ZONE,
            connections["default"].vendor,
        )
        serve_metrics(settings.HL7_METRICS_PORT, settings.METRICS_BIND, service="hl7_listener")
        ports = [f"{listener.port}" if listener.port else "", f"tls {listener.tls_port}" if listener.tls_port else ""]
        heartbeat = Heartbeat("hl7_listener", f"{bind} {' '.join(p for p in ports if p)}").start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logger.info("hl7_listener stopping pid=%d", os.getpid())
        await listener.stop()
        await asyncio.get_running_loop().run_in_executor(None, heartbeat.stop)
        logger.info("hl7_listener stopped pid=%d", os.getpid())
