"""The Modality Worklist SCP process's wiring: one pynetdicom AE that answers
C-ECHO, C-FIND (MWL Information Model - FIND) and MPPS (N-CREATE, N-SET) on
one port. The parts it wires, each in its own module:

- access.py      which calling AE titles may associate, with their profiles
- admission.py   how many connections and associations, per address and in all
- acceptor.py    the listening socket (TCP_NODELAY, SO_REUSEPORT, GC pacing)
- find_handler.py  C-FIND (matching in find.py, encoding in encoding.py)
- mpps_handler.py  N-CREATE / N-SET (the rules in mpps.py)
- recorder.py    what was asked and answered, journalled off the hot path

Here: the pydicom/pynetdicom settings, the association events (requested,
accepted, rejected, refused) and C-ECHO. Nothing here touches patient data."""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from pydicom import config as pydicom_config
from pynetdicom import _config as pynetdicom_config
from pynetdicom import evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from dicom_gateway import accel, status
from dicom_gateway.acceptor import NoDelayServer, PrefixedSSLSocket
from dicom_gateway.access import AccessPolicy, GatewayAE, calling_ae_of, is_health_probe, is_loopback, peer_of
from dicom_gateway.admission import Admission, Limits
from dicom_gateway.find_handler import FindHandler
from dicom_gateway.keys import MPPS_SOP_CLASS, MWL_FIND_SOP_CLASS, VERIFICATION_SOP_CLASS
from dicom_gateway.models import AssociationOutcome
from dicom_gateway.mpps_handler import MppsHandler
from dicom_gateway.recorder import QueryRecorder

logger = logging.getLogger(__name__)


class Gateway:
    """The Modality Worklist SCP: C-ECHO, C-FIND (MWL Information Model - FIND)
    and MPPS (N-CREATE, N-SET)."""

    def __init__(
        self,
        *,
        ae_title: str,
        allow_any: bool = False,
        check_ip: bool = False,
        keep_per_ae: int = 20,
        association_days: int = 90,
        limits: Limits | None = None,
        journal_dir: Path | None = None,
    ):
        # Query values are matched, not validated: "C?" in a CS key is a legal
        # query, not a warning per element (matching.check_values refuses what no
        # VR allows).
        pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
        # Item values were validated when the RIS wrote them (worklist.services);
        # re-validating every element of every response costs more than encoding it.
        pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE
        # pynetdicom's standard handlers format every PDU and DIMSE message, and it
        # decodes and pretty-prints each query identifier, whether or not the log
        # level shows them: measurable per response, and patient data in logs.
        pynetdicom_config.LOG_HANDLER_LEVEL = "none"
        pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
        pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
        self.accelerated = accel.install()
        self.limits = limits or Limits(
            max_associations=settings.MWL_MAX_ASSOCIATIONS,
            max_per_peer=settings.MWL_MAX_ASSOCIATIONS_PER_PEER,
            max_pending=settings.MWL_MAX_PENDING,
            max_pending_per_peer=settings.MWL_MAX_PENDING_PER_PEER,
            request_timeout=settings.MWL_REQUEST_TIMEOUT,
        )
        self.admission = Admission(self.limits)
        self.policy = AccessPolicy(allow_any=allow_any, check_ip=check_ip)
        self.recorder = QueryRecorder(
            keep_per_ae=keep_per_ae, association_days=association_days, journal_dir=journal_dir
        )
        self.find = FindHandler(policy=self.policy, recorder=self.recorder, accelerated=self.accelerated)
        self.mpps = MppsHandler(recorder=self.recorder)
        self.ae = GatewayAE(ae_title=ae_title)
        self.ae.policy = self.policy
        self.ae.require_called_aet = True
        self.ae.network_timeout = settings.MWL_IDLE_TIMEOUT
        self.ae.acse_timeout = 30
        self.ae.dimse_timeout = 60
        # admission.py decides; pynetdicom's own count (which includes connections
        # that have not associated) only stops a runaway beyond both caps.
        self.ae.maximum_associations = self.limits.max_associations + self.limits.max_pending
        self.ae.add_supported_context(VERIFICATION_SOP_CLASS)
        self.ae.add_supported_context(MWL_FIND_SOP_CLASS)
        self.ae.add_supported_context(MPPS_SOP_CLASS)
        self.server: ThreadedAssociationServer | None = None  # the plain port's
        self.tls_server: ThreadedAssociationServer | None = None  # the TLS port's
        self.servers: list[ThreadedAssociationServer] = []

    def handlers(self) -> list[EventHandlerType]:
        return [
            (evt.EVT_C_ECHO, self.handle_echo),
            (evt.EVT_C_FIND, self.find),
            (evt.EVT_N_CREATE, self.mpps.handle_n_create),
            (evt.EVT_N_SET, self.mpps.handle_n_set),
            (evt.EVT_REQUESTED, self.handle_requested),
            (evt.EVT_ACCEPTED, self.handle_accepted),
            (evt.EVT_REJECTED, self.handle_rejected),
        ]

    def start(
        self, host: str, port: int, *, reuse_port: bool = False, tls: ssl.SSLContext | None = None
    ) -> ThreadedAssociationServer:
        """Listen on ``host:port`` (with ``tls``: TLS on that port); call once
        per port, the plain one and the TLS one serve the same way."""
        if tls is not None:
            tls.sslsocket_class = PrefixedSSLSocket
        server_class = type(
            "GatewayServer",
            (NoDelayServer,),
            {
                "reuse_port": reuse_port,
                "nodelay": settings.MWL_TCP_NODELAY,
                "admission": self.admission,
                "on_refused": self._connection_refused,
                "tls": tls,
            },
        )
        server = self.ae.make_server(
            (host, port),
            evt_handlers=self.handlers(),
            server_class=server_class,
            request_handler=accel.request_handler(self.accelerated),
        )
        thread = threading.Thread(
            target=server.serve_forever, name="mwl-acceptor-tls" if tls else "mwl-acceptor", daemon=True
        )
        thread.start()
        self.servers.append(server)
        if tls is None:
            self.server = server
        else:
            self.tls_server = server
        return server

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def tls_port(self) -> int:
        assert self.tls_server is not None
        return int(self.tls_server.server_address[1])

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
        self.recorder.stop()

    # --- events -----------------------------------------------------------

    def _connection_refused(self, ip: str, port: int, why: str) -> None:
        """A connection closed before it became an association (admission.py)."""
        logger.warning("connection refused peer=%s:%d reason=%s", ip, port, why)
        self.recorder.record_association(
            calling_ae_title="",
            called_ae_title="",
            peer=f"{ip}:{port}"[:64],
            outcome=AssociationOutcome.REJECTED,
            reason=why[:200],
            at=timezone.now(),
        )

    def handle_requested(self, event: Event) -> None:
        """A complete A-ASSOCIATE-RQ: refused (permanent) from a station that
        must use TLS on the plain port; refused (transient, local limit
        exceeded) when the gateway or this address has its share of associations."""
        if is_health_probe(event):
            primitive = event.assoc.requestor.primitive
            asked = {
                str(c.abstract_syntax) for c in (primitive.presentation_context_definition_list if primitive else [])
            }
            why = ""
            if not is_loopback(event.assoc.requestor.address):
                why = "the health probe's AE title from another host"
            elif asked - {str(VERIFICATION_SOP_CLASS)}:
                why = "the health probe may only C-ECHO"
            if why:
                self._rejected(event, why)
                event.assoc.acse.send_reject(0x01, 0x01, 0x03)  # rejected-permanent, calling AE title not recognised
                event.assoc.kill()
            return
        caller = self.policy.lookup(calling_ae_of(event))
        transport = event.assoc.dul.socket
        on_tls = transport is not None and isinstance(transport.socket, ssl.SSLSocket)
        if caller and caller.tls_required and not on_tls:
            self._rejected(event, "TLS required for this station: use the TLS port")
            # rejected-permanent, service user, calling AE title not recognised
            event.assoc.acse.send_reject(0x01, 0x01, 0x03)
            event.assoc.kill()
            return
        ip = event.assoc.requestor.address
        established = [a.requestor.address for a in self.ae.active_associations if a.is_established]
        why = self.admission.admit_association(ip, established)
        if not why:
            return
        self._rejected(event, why)
        event.assoc.acse.send_reject(0x02, 0x03, 0x02)  # rejected-transient, provider (presentation), local limit
        event.assoc.kill()

    def handle_accepted(self, event: Event) -> None:
        calling = calling_ae_of(event)
        if is_health_probe(event):
            return  # the probe every 30 s (C-ECHO only, from this host: handle_requested): not recorded
        caller = self.policy.lookup(calling)
        if self.policy.check_ip and caller and caller.ip and caller.ip != event.assoc.requestor.address:
            logger.warning(
                "association aborted peer=%s calling_ae=%s reason=not its registered IP (%s)",
                peer_of(event),
                calling,
                caller.ip,
            )
            self._record_association(event, AssociationOutcome.ABORTED, f"not its registered IP ({caller.ip})")
            event.assoc.abort()
            return
        logger.info("association accepted peer=%s calling_ae=%s", peer_of(event), calling)
        self._record_association(event, AssociationOutcome.ACCEPTED, "")

    def handle_rejected(self, event: Event) -> None:
        primitive = event.assoc.acceptor.primitive
        reason = {3: "calling AE title not recognized", 7: "called AE title not recognized"}.get(
            int(getattr(primitive, "diagnostic", 0) or 0), "rejected"
        )
        self._rejected(event, reason)

    def _rejected(self, event: Event, reason: str) -> None:
        logger.warning(
            "association rejected peer=%s calling_ae=%s reason=%s",
            peer_of(event),
            calling_ae_of(event),
            reason,
        )
        self._record_association(event, AssociationOutcome.REJECTED, reason)

    def _record_association(self, event: Event, outcome: str, reason: str) -> None:
        self.recorder.record_association(
            calling_ae_title=calling_ae_of(event)[:16],
            called_ae_title=str(event.assoc.acceptor.ae_title or "").strip()[:16],
            peer=peer_of(event)[:64],
            outcome=outcome,
            reason=reason[:200],
            at=timezone.now(),
        )

    def handle_echo(self, event: Event) -> int:
        if not is_health_probe(event):
            logger.info("C-ECHO peer=%s calling_ae=%s", peer_of(event), calling_ae_of(event))
        return status.SUCCESS
