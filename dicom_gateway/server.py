"""Wiring of the pynetdicom acceptor: which AEs may associate (AccessPolicy,
admission.py's limits), TCP_NODELAY, and the event handlers for C-ECHO,
C-FIND and MPPS (N-CREATE/N-SET). The matching and encoding live in
find.py, MPPS in mpps.py, the records of what was answered in recorder.py;
nothing here touches patient data."""

from __future__ import annotations

import gc
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone
from pydicom import config as pydicom_config
from pynetdicom import AE, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.transport import ThreadedAssociationServer

from audit.context import acting_as
from audit.models import Interface
from dicom_gateway import accel, status
from dicom_gateway.admission import Admission, Limits, await_associate_request
from dicom_gateway.encoding import ProfileSettings
from dicom_gateway.find import FindOutcome, PreEncodedReply, Response, find_worklist, find_worklist_preencoded
from dicom_gateway.keys import MPPS_SOP_CLASS, MWL_FIND_SOP_CLASS, VERIFICATION_SOP_CLASS
from dicom_gateway.matching import InvalidIdentifier
from dicom_gateway.models import AssociationOutcome
from dicom_gateway.mpps import Answer, mpps_create, mpps_set
from dicom_gateway.recorder import QueryRecorder
from mwl_ris.lib.db import deadline

logger = logging.getLogger(__name__)
# An impossible AE title: pynetdicom treats an empty allow-list as "anyone".
NO_STATION = "-NO-STATIONS-"


@dataclass(frozen=True)
class Caller:
    ae_title: str
    ip: str | None
    profile: ProfileSettings


class AccessPolicy:
    """Known calling AE titles (active stations) with their profiles, re-read
    from the database every ``ttl`` seconds by a background thread: an
    association never waits for the database here (during an outage it is
    served, or refused, from the last list read)."""

    def __init__(self, *, allow_any: bool, check_ip: bool, ttl: float = 5.0):
        self.allow_any, self.check_ip, self.ttl = allow_any, check_ip, ttl
        self._callers: dict[str, Caller] = {}
        self._loaded_at = 0.0
        self._loaded = False
        self._refreshing = threading.Lock()

    def callers(self) -> dict[str, Caller]:
        if not self._loaded:  # the first association: it waits for the first list
            self.invalidate()
        elif time.monotonic() - self._loaded_at > self.ttl and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="mwl-stations", daemon=True).start()
        return self._callers

    def _refresh(self) -> None:
        """Runs holding ``_refreshing`` (taken by the caller), and releases it."""
        try:
            connection.ensure_connection()
            with deadline(settings.MWL_DB_DEADLINE):
                self._callers = self._load()
            self._loaded = True
        except DatabaseError:
            logger.exception("could not read stations; keeping the previous list")
        finally:
            self._loaded_at = time.monotonic()  # failed or not: next try after ttl
            connection.close()
            self._refreshing.release()

    def invalidate(self) -> None:
        """Read the stations now (after a change that must apply at once)."""
        self._refreshing.acquire()  # waits for a refresh in flight
        self._refresh()

    @staticmethod
    def _load() -> dict[str, Caller]:
        from scheduling.models import Station

        return {
            s.ae_title.strip(): Caller(s.ae_title.strip(), s.ip_address, ProfileSettings.from_profile(s.dicom_profile))
            for s in Station.objects.filter(active=True).select_related("dicom_profile")
        }

    def lookup(self, ae_title: str) -> Caller | None:
        return self.callers().get(ae_title.strip())

    def allowed_calling_aets(self) -> list[str]:
        if self.allow_any:
            return []
        return list(self.callers()) or [NO_STATION]


class GatewayAE(AE):
    """An AE whose calling-AE allow-list is the live list of stations."""

    policy: AccessPolicy

    @property
    def require_calling_aet(self) -> list[str]:
        return self.policy.allowed_calling_aets()

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:  # the base __init__ assigns it
        pass


class NoDelayServer(ThreadedAssociationServer):
    """Sets TCP_NODELAY on every accepted socket: without it each response
    waits for the peer's delayed ACK (Nagle), tens of ms per exchange. With
    ``reuse_port``, several worker processes listen on the same port and the
    kernel spreads the associations over them (pynetdicom is bound by the GIL)."""

    reuse_port = False
    nodelay = True
    COLLECT_EVERY = 60.0  # seconds between full garbage collections
    admission: Admission
    on_refused: Callable[[str, int, str], None]

    def service_actions(self) -> None:
        """pynetdicom runs a full ``gc.collect()`` every 60th pass of the accept
        loop, because finished associations sit in reference cycles. Here it
        runs at most once a minute: memory stays bounded the same way, and the
        collection no longer stalls one association in sixty."""
        now = time.monotonic()
        if now - getattr(self, "_collected_at", 0.0) >= self.COLLECT_EVERY:
            self._collected_at = now
            gc.collect()

    def shutdown(self) -> None:
        """Stop serving and close the socket (pynetdicom's shutdown also expects
        the server in the AE's private list, which make_server does not do)."""
        socketserver.TCPServer.shutdown(self)
        self.server_close()

    def server_bind(self) -> None:
        if self.reuse_port and self.socket is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client_socket, address = super().get_request()
        if self.nodelay:
            client_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client_socket, address

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """A new connection: refused at once (closed) over the pending caps."""
        why = self.admission.admit_connection(client_address[0])
        if why:
            self.on_refused(client_address[0], client_address[1], why)
        return not why

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """On the connection's own thread: wait for its whole A-ASSOCIATE-RQ
        (admission.py) before pynetdicom makes an association of it."""
        try:
            why = await_associate_request(request, self.admission.limits)
        finally:
            self.admission.connection_done(client_address[0])
        if why:
            self.on_refused(client_address[0], client_address[1], why)
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)


CANCEL_CHECK_EVERY = 8  # matches between waits for the outgoing queue to drain


def cancel_check(event: Any) -> Callable[[], bool]:
    """is_cancelled for find_worklist, with backpressure. pynetdicom's network
    thread either sends a queued PDU or reads the socket, and reads only when
    nothing is queued: while responses are produced faster than they are sent,
    a C-CANCEL is not even read until the whole answer is out. Every few
    matches, wait until the queue has drained (which also keeps a large answer
    from piling up in memory), then ask."""
    calls = 0

    def is_cancelled() -> bool:
        nonlocal calls
        calls += 1
        if calls % CANCEL_CHECK_EVERY == 0:
            outgoing = event.assoc.dul.to_provider_queue
            deadline = time.monotonic() + 5
            while outgoing.qsize() and event.assoc.is_established and time.monotonic() < deadline:
                time.sleep(0.0002)
        return bool(event.is_cancelled)

    return is_cancelled


def _peer(event: Any) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.address}:{requestor.port}"


def _decoded_identifier(event: Any) -> Any:
    """The request's identifier as a Dataset, every element decoded now
    (pydicom decodes lazily, on first access): a failure to decode is the
    caller's invalid identifier (0xA900), not our processing failure (0xC311)."""
    try:
        identifier = event.identifier
        for _element in identifier.iterall():
            pass
    except Exception as exc:
        raise InvalidIdentifier(f"Identifier cannot be decoded: {type(exc).__name__}") from exc
    return identifier


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
        self.server: ThreadedAssociationServer | None = None
        self._thread: threading.Thread | None = None

    def handlers(self) -> list[Any]:
        return [
            (evt.EVT_C_ECHO, self.handle_echo),
            (evt.EVT_C_FIND, self.handle_find),
            (evt.EVT_N_CREATE, self.handle_n_create),
            (evt.EVT_N_SET, self.handle_n_set),
            (evt.EVT_REQUESTED, self.handle_requested),
            (evt.EVT_ACCEPTED, self.handle_accepted),
            (evt.EVT_REJECTED, self.handle_rejected),
        ]

    def start(self, host: str, port: int, *, reuse_port: bool = False) -> ThreadedAssociationServer:
        server_class = type(
            "GatewayServer",
            (NoDelayServer,),
            {
                "reuse_port": reuse_port,
                "nodelay": settings.MWL_TCP_NODELAY,
                "admission": self.admission,
                "on_refused": self._connection_refused,
            },
        )
        server = self.ae.make_server(
            (host, port),
            evt_handlers=self.handlers(),
            server_class=server_class,
            request_handler=accel.request_handler(self.accelerated),
        )
        self._thread = threading.Thread(target=server.serve_forever, name="mwl-acceptor", daemon=True)
        self._thread.start()
        self.server = server
        return server

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
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

    def handle_requested(self, event: Any) -> None:
        """A complete A-ASSOCIATE-RQ: refused (transient, local limit exceeded)
        when the gateway or this address has its share of associations."""
        ip = event.assoc.requestor.address
        established = [a.requestor.address for a in self.ae.active_associations if a.is_established]
        why = self.admission.admit_association(ip, established)
        if not why:
            return
        self._rejected(event, why)
        event.assoc.acse.send_reject(0x02, 0x03, 0x02)  # rejected-transient, provider (presentation), local limit
        event.assoc.kill()

    def handle_accepted(self, event: Any) -> None:
        calling = event.assoc.requestor.ae_title.strip()
        caller = self.policy.lookup(calling)
        if self.policy.check_ip and caller and caller.ip and caller.ip != event.assoc.requestor.address:
            logger.warning(
                "association aborted peer=%s calling_ae=%s reason=not its registered IP (%s)",
                _peer(event),
                calling,
                caller.ip,
            )
            self._record_association(event, AssociationOutcome.ABORTED, f"not its registered IP ({caller.ip})")
            event.assoc.abort()
            return
        logger.info("association accepted peer=%s calling_ae=%s", _peer(event), calling)
        self._record_association(event, AssociationOutcome.ACCEPTED, "")

    def handle_rejected(self, event: Any) -> None:
        primitive = event.assoc.acceptor.primitive
        reason = {3: "calling AE title not recognized", 7: "called AE title not recognized"}.get(
            int(getattr(primitive, "diagnostic", 0) or 0), "rejected"
        )
        self._rejected(event, reason)

    def _rejected(self, event: Any, reason: str) -> None:
        logger.warning(
            "association rejected peer=%s calling_ae=%s reason=%s",
            _peer(event),
            event.assoc.requestor.ae_title.strip(),
            reason,
        )
        self._record_association(event, AssociationOutcome.REJECTED, reason)

    def _record_association(self, event: Any, outcome: str, reason: str) -> None:
        self.recorder.record_association(
            calling_ae_title=event.assoc.requestor.ae_title.strip()[:16],
            called_ae_title=str(event.assoc.acceptor.ae_title or "").strip()[:16],
            peer=_peer(event)[:64],
            outcome=outcome,
            reason=reason[:200],
            at=timezone.now(),
        )

    def handle_echo(self, event: Any) -> int:
        logger.info("C-ECHO peer=%s calling_ae=%s", _peer(event), event.assoc.requestor.ae_title.strip())
        return status.SUCCESS

    def handle_find(self, event: Any) -> Iterator[Response | PreEncodedReply]:
        """The C-FIND responses; the query is journalled (recorder.py) before its
        final response goes out, whatever the outcome."""
        started = time.perf_counter()
        received_at = timezone.now()
        calling = event.assoc.requestor.ae_title.strip()
        caller = self.policy.lookup(calling)
        profile = caller.profile if caller else ProfileSettings()
        outcome = FindOutcome()
        transfer_syntax = event.context.transfer_syntax
        raw_identifier = event.request.Identifier.getvalue() if event.request.Identifier is not None else b""
        finish = partial(
            self._find_done, event, calling, outcome, started, received_at, (raw_identifier, transfer_syntax)
        )
        close_old_connections()
        finished = False
        writer = accel.find_writer(event) if self.accelerated else None
        is_cancelled = cancel_check(event)
        try:
            find = find_worklist_preencoded if self.accelerated else find_worklist
            for response in find(
                partial(_decoded_identifier, event),
                calling_ae=calling,
                profile=profile,
                station_known=caller is not None,
                is_cancelled=is_cancelled,
                outcome=outcome,
                request_key=(raw_identifier, transfer_syntax),
            ):
                code = response[0] if isinstance(response[0], int) else int(response[0].Status)
                if code not in (status.PENDING, status.PENDING_WARNING):
                    if writer is not None and code == status.CANCELLED:
                        outcome.matches -= writer.discard()
                    finished = True  # a failure or cancel: pynetdicom sends it and asks for nothing more
                    finish()
                elif writer is not None and writer.add(code, response[1]):
                    continue  # written by the association's thread (dimse.FindWriter)
                yield response
            if writer is not None and writer.buffered and event.is_cancelled:
                # cancelled while the last responses were still in the buffer
                outcome.matches -= writer.discard()
                outcome.status = status.CANCELLED
                finished = True
                finish()
                yield status.CANCELLED, None
        finally:
            # Pending responses still in the writer go out with the final one
            # (dimse.GatewayDIMSE.send_msg), in one write.
            if not finished:
                finish()  # after the last match: before pynetdicom sends the final success

    def _find_done(
        self,
        event: Any,
        calling: str,
        outcome: FindOutcome,
        started: float,
        received_at: Any,
        identifier: tuple[bytes, Any],
    ) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        keys = ",".join(f"{k}:{v}" for k, v in outcome.summary.items())
        logger.info(
            "C-FIND peer=%s calling_ae=%s keys=%s matches=%d status=0x%04X ms=%.1f%s",
            _peer(event),
            calling,
            keys or "-",
            outcome.matches,
            outcome.status,
            elapsed,
            f" comment={outcome.comment}" if outcome.comment else "",
        )
        connection.close()
        self.recorder.record(
            keys=keys,
            calling_ae_title=calling[:16],
            peer=_peer(event)[:64],
            identifier=identifier,
            matches=outcome.matches,
            status=outcome.status,
            duration_ms=elapsed,
            received_at=received_at,
        )

    # --- MPPS (N-CREATE / N-SET) ----------------------------------------------------

    def _mpps(self, event: Any, operation: str) -> tuple[Any, Any]:
        calling = event.assoc.requestor.ae_title.strip()
        request = event.request
        close_old_connections()
        try:
            connection.ensure_connection()
            with deadline(settings.MWL_DB_DEADLINE), acting_as(Interface.DICOM, calling, ip=_peer(event)):
                try:
                    dataset = event.attribute_list if operation == "N-CREATE" else event.modification_list
                except Exception as exc:  # noqa: BLE001 - an undecodable dataset is the caller's
                    answer = Answer(status.INVALID_ATTRIBUTE_VALUE, f"Dataset cannot be decoded: {type(exc).__name__}")
                else:
                    if operation == "N-CREATE":
                        answer = mpps_create(
                            sop_instance_uid=request.AffectedSOPInstanceUID,
                            attributes=dataset,
                            calling_ae=calling,
                        )
                    else:
                        answer = mpps_set(
                            sop_instance_uid=request.RequestedSOPInstanceUID, modifications=dataset, calling_ae=calling
                        )
        except DatabaseError:
            logger.exception("MPPS %s from %s failed", operation, calling)
            answer = Answer(status.PROCESSING_FAILURE, "RIS database unavailable; try again shortly")
            # mpps.py audits in its own transaction; this answer had none, so the journal keeps it
            self.recorder.record_audit(
                at=timezone.now(),
                interface=Interface.DICOM,
                actor=calling[:150],
                ip=_peer(event)[:64],
                action=f"mpps-{operation.lower()}",
                object_type="dicom_gateway.PerformedProcedureStep",
                ae_title=calling[:16],
                summary=f"{operation} refused: database unavailable status=0x{answer.status:04X}",
                after={"status": answer.status},
            )
        finally:
            connection.close()
        logger.info(
            "MPPS %s peer=%s calling_ae=%s status=0x%04X%s",
            operation,
            _peer(event),
            calling,
            answer.status,
            f" comment={answer.comment}" if answer.comment else "",
        )
        return answer.status_dataset(), answer.dataset

    def handle_n_create(self, event: Any) -> tuple[Any, Any]:
        return self._mpps(event, "N-CREATE")

    def handle_n_set(self, event: Any) -> tuple[Any, Any]:
        return self._mpps(event, "N-SET")
