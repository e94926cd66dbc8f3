"""python manage.py mwl_gateway: the DICOM Modality Worklist SCP."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from dicom_gateway.server import Gateway

logger = logging.getLogger("dicom_gateway")


class Command(BaseCommand):
    help = "Run the DICOM Modality Worklist SCP (C-ECHO, C-FIND) until SIGTERM/SIGINT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--ae-title", default=settings.MWL_AE_TITLE)
        parser.add_argument("--port", type=int, default=settings.MWL_PORT)
        parser.add_argument("--bind", default=settings.MWL_BIND)

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = Gateway(
            ae_title=options["ae_title"],
            allow_any=settings.MWL_ALLOW_ANY_CALLING_AE,
            check_ip=settings.MWL_CHECK_CALLING_IP,
            keep_per_ae=settings.MWL_CAPTURE_PER_AE,
        )
        gateway.start(options["bind"], options["port"])
        logger.info(
            "mwl_gateway listening ae_title=%s bind=%s port=%d allow_any_calling_ae=%s check_calling_ip=%s "
            "time_zone=%s",
            options["ae_title"],
            options["bind"],
            gateway.port,
            settings.MWL_ALLOW_ANY_CALLING_AE,
            settings.MWL_CHECK_CALLING_IP,
            settings.TIME_ZONE,
        )
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            logger.info("mwl_gateway stopping (signal %d)", signum)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        stop.wait()
        gateway.stop()
        logger.info("mwl_gateway stopped")
