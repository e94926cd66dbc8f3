"""Wiring of the pynetdicom acceptor: which AEs may associate, TCP_NODELAY,
the event handlers, and a background recorder of queries. The matching and
encoding live in find.py; nothing here touches patient data."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from io import BytesIO
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone
from pydicom import config as pydicom_config
from pynetdicom import AE, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom import service_class as pynetdicom_service_class
from pynetdicom.dsutils import decode
from pynetdicom.transport import ThreadedAssociationServer

from audit.context import acting_as
from audit.models import AuditRecord, Interface
from audit.services import audit_records_bulk
from dicom_gateway import status, wakeups
from dicom_gateway.dimse import GatewayRequestHandler
from dicom_gateway.encoding import EncodedDataset, ProfileSettings
from dicom_gateway.find import FindOutcome, LruCache, find_worklist
from dicom_gateway.keys import MPPS_SOP_CLASS, MWL_FIND_SOP_CLASS, VERIFICATION_SOP_CLASS
from dicom_gateway.matching import InvalidIdentifier
from dicom_gateway.models import AssociationOutcome, AssociationRecord, CapturedQuery
from dicom_gateway.mpps import Answer, mpps_create, mpps_set

logger = logging.getLogger(__name__)
# An impossible AE title: pynetdicom treats an empty allow-list as "anyone".
NO_STATION = "-NO-STATIONS-"
wakeups.enable()


@dataclass(frozen=True)
class Caller:
    ae_title: str
    ip: str | None
    profile: ProfileSettings


class AccessPolicy:
    """Known calling AE titles (active stations) with their profiles, re-read
    from the database at most every ``ttl`` seconds."""

    def __init__(self, *, allow_any: bool, check_ip: bool, ttl: float = 5.0):
        self.allow_any, self.check_ip, self.ttl = allow_any, check_ip, ttl
        self._callers: dict[str, Caller] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def callers(self) -> dict[str, Caller]:
        with self._lock:
            if time.monotonic() - self._loaded_at > self.ttl:
                try:
                    self._callers = self._load()
                    self._loaded_at = time.monotonic()
                except DatabaseError:
                    logger.exception("could not read stations; keeping the previous list")
                finally:
                    connection.close()
            return self._callers

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = 0.0

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

    def service_actions(self) -> None:
        """pynetdicom runs a full ``gc.collect()`` every 60th pass of the accept
        loop, because finished associations sit in reference cycles. Here it
        runs at most once a minute: memory stays bounded the same way, and the
        collection no longer stalls one association in sixty."""
        now = time.monotonic()
        if now - getattr(self, "_collected_at", 0.0) >= self.COLLECT_EVERY:
            self._collected_at = now
            gc.collect()

    def server_bind(self) -> None:
        if self.reuse_port and self.socket is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client_socket, address = super().get_request()
        if self.nodelay:
            client_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client_socket, address


class QueryRecorder:
    """Writes CapturedQuery, AssociationRecord and audit rows from a background
    thread, off the response path. Whatever queued up while it wrote the last
    batch is written together: one INSERT per table per batch, so under load the
    cost per query falls (this thread shares the GIL with the associations)."""

    PRUNE_EVERY = 500  # association records between two deletions by age
    BATCH = 500
    GATHER_SECONDS = 1.0
    JSON_MEMO = 256  # identifiers whose DICOM JSON is kept: a modality repeats its poll

    def __init__(self, *, keep_per_ae: int, association_days: int = 90):
        self.keep_per_ae = keep_per_ae
        self.association_days = association_days
        self._written = 0
        self._json_memo: LruCache[tuple[bytes, Any], dict[str, Any]] = LruCache(self.JSON_MEMO)
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._run, name="mwl-query-recorder", daemon=True)
        self._thread.start()

    def record(self, **row: Any) -> None:
        self._put(("query", row))

    def record_association(self, **row: Any) -> None:
        self._put(("association", row))

    def _put(self, item: tuple[str, dict[str, Any]]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            logger.warning("recorder queue full; a %s record was dropped", item[0])

    def flush(self) -> None:
        self._queue.join()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    @staticmethod
    def _audit_query(row: dict[str, Any], keys: str) -> AuditRecord:
        return AuditRecord(
            at=row["received_at"],
            interface=Interface.DICOM,
            actor=row["calling_ae_title"],
            ip=row["peer"],
            action="c-find",
            object_type="dicom_gateway.CapturedQuery",
            ae_title=row["calling_ae_title"],
            summary=f"keys={keys or '-'} matches={row['matches']} status=0x{row['status']:04X} "
            f"ms={row['duration_ms']:.1f}"[:300],
            after={"matches": row["matches"], "status": row["status"], "ms": round(row["duration_ms"], 1)},
        )

    @staticmethod
    def _audit_association(row: dict[str, Any]) -> AuditRecord:
        return AuditRecord(
            at=row["at"],
            interface=Interface.DICOM,
            actor=row["calling_ae_title"],
            ip=row["peer"],
            action=f"association-{row['outcome']}"[:32],
            object_type="dicom_gateway.AssociationRecord",
            ae_title=row["calling_ae_title"],
            summary=f"called {row['called_ae_title']}: {row['reason']}"[:300],
        )

    def _json_of(self, encoded: tuple[bytes, Any]) -> dict[str, Any]:
        """The DICOM JSON of a request's identifier, decoded once per distinct
        request (decoding and converting cost more than the rest of a record)."""
        return self._json_memo.get_or_build(encoded, partial(_identifier_json, encoded))

    def _write(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        captured, associations, audits = [], [], []
        for kind, row in items:
            if kind == "query":
                # The query is turned into DICOM JSON here, off the association's thread.
                identifier = row.pop("identifier")
                keys = row.pop("keys", "")
                json_identifier = self._json_of(identifier) if identifier else {}
                captured.append(CapturedQuery(**row, identifier=json_identifier))
                audits.append(self._audit_query(row, keys))
            else:
                associations.append(AssociationRecord(**row))
                if row["outcome"] != AssociationOutcome.ACCEPTED:
                    audits.append(self._audit_association(row))
        if captured:
            CapturedQuery.objects.bulk_create(captured)
            for calling in {c.calling_ae_title for c in captured}:
                mine = CapturedQuery.objects.filter(calling_ae_title=calling)
                keep = list(mine.order_by("-received_at", "-pk").values_list("pk", flat=True)[: self.keep_per_ae])
                mine.exclude(pk__in=keep).delete()
        if associations:
            AssociationRecord.objects.bulk_create(associations)
            before, self._written = self._written, self._written + len(associations)
            if before // self.PRUNE_EVERY != self._written // self.PRUNE_EVERY or before == 0:
                cutoff = timezone.now() - dt.timedelta(days=self.association_days)
                AssociationRecord.objects.filter(at__lt=cutoff).delete()
        if audits and settings.AUDIT_ENABLED:
            audit_records_bulk(audits)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Gather for a moment: a modality's queries come in bursts, and writing
            # while associations run slows them (the writes share the GIL and the
            # cores with them); one batch a second costs them far less than a few
            # INSERTs per query.
            deadline = time.monotonic() + self.GATHER_SECONDS
            while len(batch) < self.BATCH and batch[-1] is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            items = [item for item in batch if item is not None]
            try:
                if items:
                    self._write(items)
            except DatabaseError:
                logger.exception("could not write %d gateway records", len(items))
                connection.close()
            finally:
                for _ in batch:
                    self._queue.task_done()
            if batch[-1] is None:
                connection.close()  # this thread's connection ends with it
                return


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


def _identifier_json(encoded: tuple[bytes, Any]) -> dict[str, Any]:
    """The captured query as DICOM JSON, decoded here in the recorder's
    thread (the C-FIND itself may not have decoded it: see find.PLAN_CACHE)."""
    data, transfer_syntax = encoded
    try:
        identifier = decode(
            BytesIO(data), transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian, transfer_syntax.is_deflated
        )
        return dict(identifier.to_json_dict()) if identifier is not None else {}
    except Exception:  # noqa: BLE001 - capture is best effort
        return {}


def install_encode_cache() -> None:
    """pynetdicom has no hook for pre-encoded identifiers: its C-FIND SCP calls
    the module function service_class.encode for every response. Wrap it so
    our EncodedDataset responses reuse their bytes; anything else is encoded
    as before."""
    original = pynetdicom_service_class.encode
    if getattr(original, "mwl_cached", False):
        return

    def encode(ds: Any, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False) -> bytes | None:
        if isinstance(ds, EncodedDataset):
            return ds.encoded((is_implicit_vr, is_little_endian, deflated), original)
        return original(ds, is_implicit_vr, is_little_endian, deflated)

    encode.mwl_cached = True  # type: ignore[attr-defined]
    pynetdicom_service_class.encode = encode


class Gateway:
    """The Modality Worklist SCP: C-ECHO and C-FIND (MWL Information Model - FIND)."""

    def __init__(
        self,
        *,
        ae_title: str,
        allow_any: bool = False,
        check_ip: bool = False,
        keep_per_ae: int = 20,
        association_days: int = 90,
    ):
        # Query values are matched, not validated: "C?" in a CS key or a value
        # longer than its VR allows is a legal query, not a warning per element.
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
        install_encode_cache()
        self.policy = AccessPolicy(allow_any=allow_any, check_ip=check_ip)
        self.recorder = QueryRecorder(keep_per_ae=keep_per_ae, association_days=association_days)
        self.ae = GatewayAE(ae_title=ae_title)
        self.ae.policy = self.policy
        self.ae.require_called_aet = True
        self.ae.network_timeout = 60
        self.ae.acse_timeout = 30
        self.ae.dimse_timeout = 60
        self.ae.maximum_associations = 64
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
            (evt.EVT_ACCEPTED, self.handle_accepted),
            (evt.EVT_REJECTED, self.handle_rejected),
        ]

    def start(self, host: str, port: int, *, reuse_port: bool = False) -> ThreadedAssociationServer:
        server_class = type(
            "GatewayServer", (NoDelayServer,), {"reuse_port": reuse_port, "nodelay": settings.MWL_TCP_NODELAY}
        )
        server = self.ae.make_server(
            (host, port),
            evt_handlers=self.handlers(),
            server_class=server_class,
            request_handler=GatewayRequestHandler,
        )
        self.ae._servers.append(server)  # as AE.start_server does, so server.shutdown() can find it
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
            self.server.server_close()
        self.recorder.stop()

    # --- events -----------------------------------------------------------

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

    def handle_find(self, event: Any) -> Any:
        started = time.perf_counter()
        received_at = timezone.now()
        calling = event.assoc.requestor.ae_title.strip()
        caller = self.policy.lookup(calling)
        profile = caller.profile if caller else ProfileSettings()
        outcome = FindOutcome()
        transfer_syntax = event.context.transfer_syntax
        raw_identifier = event.request.Identifier.getvalue() if event.request.Identifier is not None else b""
        close_old_connections()
        try:
            yield from find_worklist(
                partial(_decoded_identifier, event),
                calling_ae=calling,
                profile=profile,
                station_known=caller is not None,
                is_cancelled=cancel_check(event),
                outcome=outcome,
                request_key=(raw_identifier, transfer_syntax),
            )
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            logger.info(
                "C-FIND peer=%s calling_ae=%s keys=%s matches=%d status=0x%04X ms=%.1f%s",
                _peer(event),
                calling,
                ",".join(f"{k}:{v}" for k, v in outcome.summary.items()) or "-",
                outcome.matches,
                outcome.status,
                elapsed,
                f" comment={outcome.comment}" if outcome.comment else "",
            )
            connection.close()
            self.recorder.record(
                keys=",".join(f"{k}:{v}" for k, v in outcome.summary.items()),
                calling_ae_title=calling[:16],
                peer=_peer(event)[:64],
                identifier=(raw_identifier, transfer_syntax),
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
            with acting_as(Interface.DICOM, calling, ip=_peer(event)):
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
