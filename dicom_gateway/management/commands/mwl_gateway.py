"""python manage.py mwl_gateway: the DICOM Modality Worklist SCP."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from dicom_gateway.server import Gateway

logger = logging.getLogger("dicom_gateway")


def serve(*, ae_title: str, bind: str, port: int, reuse_port: bool) -> None:
    """Run one gateway until SIGTERM/SIGINT, then shut down cleanly."""
    gateway = Gateway(
        ae_title=ae_title,
        allow_any=settings.MWL_ALLOW_ANY_CALLING_AE,
        check_ip=settings.MWL_CHECK_CALLING_IP,
        keep_per_ae=settings.MWL_CAPTURE_PER_AE,
        association_days=settings.MWL_ASSOCIATION_RECORD_DAYS,
    )
    gateway.start(bind, port, reuse_port=reuse_port)
    # Everything loaded so far (Django, pydicom's dictionaries, the app) lives as
    # long as the process: keep it out of every later garbage collection, which
    # then only walks what the associations created (a full collection over it
    # all took ~50 ms here, and stalls every association in flight).
    gc.collect()
    gc.freeze()
    logger.info(
        "mwl_gateway listening pid=%d ae_title=%s bind=%s port=%d allow_any_calling_ae=%s check_calling_ip=%s "
        "time_zone=%s database=%s",
        os.getpid(),
        ae_title,
        bind,
        gateway.port,
        settings.MWL_ALLOW_ANY_CALLING_AE,
        settings.MWL_CHECK_CALLING_IP,
        settings.TIME_ZONE,
        connections["default"].vendor,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        logger.info("mwl_gateway stopping pid=%d (signal %d)", os.getpid(), signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stop.wait()
    gateway.stop()
    logger.info("mwl_gateway stopped pid=%d", os.getpid())


class Command(BaseCommand):
    help = "Run the DICOM Modality Worklist SCP (C-ECHO, C-FIND) until SIGTERM/SIGINT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--ae-title", default=settings.MWL_AE_TITLE)
        parser.add_argument("--port", type=int, default=settings.MWL_PORT)
        parser.add_argument("--bind", default=settings.MWL_BIND)
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.MWL_WORKERS,
            help="processes sharing the port (SO_REUSEPORT); pynetdicom uses one core per process",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workers = max(1, options["workers"])
        common = {"ae_title": options["ae_title"], "bind": options["bind"], "port": options["port"]}
        if workers == 1:
            serve(**common, reuse_port=False)
            return
        connections.close_all()  # never share a database connection across fork()
        children: list[int] = []
        for _ in range(workers):
            pid = os.fork()
            if pid == 0:
                try:
                    serve(**common, reuse_port=True)
                finally:
                    sys.stdout.flush()
                    os._exit(0)
            children.append(pid)
        stop = threading.Event()

        def forward(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        stop.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)
