"""python manage.py ris_probe dicom|hl7: is the gateway or the HL7 listener on this host answering?
For health checks (compose.yaml, monitoring): exit 0 when it answers, 1 when not; quiet either way.

dicom: a C-ECHO as MWL_HEALTH_AE_TITLE to 127.0.0.1 (the gateway lets that AE title in from this host
only, for C-ECHO only, and does not record it). hl7: a TCP connection to the MLLP port, closed at once."""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Health probe: exit 0 when the DICOM gateway (C-ECHO) or the HL7 listener (TCP) on this host answers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("service", choices=["dicom", "hl7"])
        parser.add_argument("--timeout", type=float, default=5.0)

    def handle(self, *args: Any, **options: Any) -> None:
        ok = self._dicom(options["timeout"]) if options["service"] == "dicom" else self._hl7(options["timeout"])
        if not ok:
            self.stderr.write(f"{options['service']}: no answer")
            sys.exit(1)
        self.stdout.write(f"{options['service']}: ok")

    @staticmethod
    def _dicom(timeout: float) -> bool:
        from pynetdicom import AE

        from dicom_gateway.keys import VERIFICATION_SOP_CLASS

        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
        ae = AE(ae_title=settings.MWL_HEALTH_AE_TITLE)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        ae.add_requested_context(VERIFICATION_SOP_CLASS)
        port = settings.MWL_TLS_PORT if settings.MWL_TLS_ONLY else settings.MWL_PORT
        if settings.MWL_TLS_ONLY:
            from mwl_ris.lib import tls

            context = tls.client_context(verify=False)  # this host's own gateway: the probe asks only "alive?"
            assoc = ae.associate("127.0.0.1", port, ae_title=settings.MWL_AE_TITLE, tls_args=(context, "localhost"))
        else:
            assoc = ae.associate("127.0.0.1", port, ae_title=settings.MWL_AE_TITLE)
        if not assoc.is_established:
            return False
        try:
            status = assoc.send_c_echo()
            return bool(status) and status.get("Status") == 0
        finally:
            assoc.release()

    @staticmethod
    def _hl7(timeout: float) -> bool:
        port = settings.HL7_TLS_PORT if settings.HL7_TLS_ONLY else settings.HL7_PORT
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                return True
        except OSError:
            return False
