"""The edge's MPPS forwarder (``manage.py edge_forward``): sends the outbox
to the centre's gateway as DICOM MPPS, one message at a time in id order,
and reports the edge's state to the centre. It also runs the edge's own
housekeeping (its audit trail's seal and checks), as an edge has no Celery.

Delivery is at least once, made idempotent by the SOP Instance UID the edge
gave each step: a message is marked *in doubt* (committed) before it is sent,
and settled when an answer comes. A repeat of a delivered N-CREATE is
answered 0x0111 (that instance exists), of a delivered final N-SET 0x0110
(that instance may no longer change): for a message in doubt both mean
"arrived before". No answer, no association, or a failure on the centre's
side (0x0110, 0xC…): try again, backing off from 1 s to
EDGE_RETRY_MAX_SECONDS, and nothing behind it overtakes it. A refusal
(0x01xx, 0xA…: the message itself is wrong) is kept as *refused* for review
and the queue goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification  # type: ignore[attr-defined]

from edge.models import EdgeStatus, OutboxMessage, OutboxState
from edge.replication import subscription_state
from edge.services import edge_status_refresh, holds_release, status_fields
from mwl_ris.lib.tls import client_context

logger = logging.getLogger(__name__)

SUCCESS, PROCESSING_FAILURE, DUPLICATE_SOP_INSTANCE = 0x0000, 0x0110, 0x0111
MAX_FAILED_ANSWERS = 20  # the centre answered "failure" this often: kept as refused instead of blocking the queue
AS_OF_LOG_SECONDS = 300  # while the link is down, "worklist as of HH:MM" is logged this often
IDLE_CLOSE_SECONDS = 30  # an association with nothing to send is released after this long


def _settled(message: OutboxMessage, code: int, was_in_doubt: bool) -> str:
    """forwarded, refused or retry, for the centre's answer to this message."""
    final_set = message.operation == "N-SET" and str((message.dataset.get("00400252", {}).get("Value") or [""])[0]) in (
        "COMPLETED",
        "DISCONTINUED",
    )
    if code == SUCCESS:
        return "forwarded"
    if code == DUPLICATE_SOP_INSTANCE and message.operation == "N-CREATE":
        return "forwarded"  # the centre has this step: a copy of it arrived before
    if code == PROCESSING_FAILURE and final_set and was_in_doubt:
        return "forwarded"  # the step is final at the centre: this very N-SET arrived before
    if code == PROCESSING_FAILURE or code >= 0xC000:
        return "retry"
    return "refused"


class Forwarder:
    def __init__(self, *, stop: threading.Event | None = None):
        self.stop = stop or threading.Event()
        self.ae = AE(ae_title=settings.EDGE_AE_TITLE)
        self.ae.add_requested_context(ModalityPerformedProcedureStep)
        self.ae.add_requested_context(Verification)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = 15
        self.association: Association | None = None
        self.last_used = 0.0
        self.reachable = False
        self.next_report = 0.0
        self.last_as_of_log = -float(AS_OF_LOG_SECONDS)
        self.link_up = False
        self.next_link_look = 0.0
        self.failures = 0  # in a row, for the back-off

    # --- the link ---------------------------------------------------------
    def _associate(self) -> Association:
        if self.association is not None and self.association.is_established:
            return self.association
        tls: Any = None
        if settings.EDGE_CENTRAL_TLS_CA_FILE:
            context = client_context(
                ca_file=settings.EDGE_CENTRAL_TLS_CA_FILE,
                cert_file=settings.EDGE_TLS_CERT_FILE,
                key_file=settings.EDGE_TLS_KEY_FILE,
            )
            tls = (context, settings.EDGE_CENTRAL_HOST)
        association = self.ae.associate(
            settings.EDGE_CENTRAL_HOST,
            settings.EDGE_CENTRAL_PORT,
            ae_title=settings.EDGE_CENTRAL_AE_TITLE,
            tls_args=tls,
        )
        if not association.is_established:
            self.reachable = False
            raise ConnectionError(
                f"no association with {settings.EDGE_CENTRAL_AE_TITLE} at "
                f"{settings.EDGE_CENTRAL_HOST}:{settings.EDGE_CENTRAL_PORT}"
            )
        self.association, self.reachable = association, True
        return association

    def _release(self) -> None:
        if self.association is not None:
            with contextlib.suppress(Exception):
                if self.association.is_established:
                    self.association.release()
            self.association = None

    def _send(self, message: OutboxMessage) -> int | None:
        """The centre's status for this message; None when no answer came."""
        association = self._associate()
        dataset = Dataset.from_json(message.dataset)
        if message.operation == "N-CREATE":
            status, _ = association.send_n_create(dataset, ModalityPerformedProcedureStep, message.sop_instance_uid)
        else:
            status, _ = association.send_n_set(dataset, ModalityPerformedProcedureStep, message.sop_instance_uid)
        self.last_used = time.monotonic()
        if not status or "Status" not in status:
            self._release()
            self.reachable = False
            return None
        return int(status.Status)

    # --- the queue --------------------------------------------------------
    def forward_one(self) -> bool:
        """Send the first pending message if it is due; True if one was settled."""
        message = OutboxMessage.objects.filter(state=OutboxState.PENDING).order_by("pk").first()
        if message is None or (message.next_attempt_at and message.next_attempt_at > timezone.now()):
            return False
        was_in_doubt = message.in_doubt
        try:
            self._associate()
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._retry(message, str(exc)[:200], code=None)
            return False
        OutboxMessage.objects.filter(pk=message.pk).update(in_doubt=True, attempts=F("attempts") + 1)
        message.refresh_from_db()
        try:
            code = self._send(message)
        except (ConnectionError, OSError, RuntimeError, ValueError) as exc:
            self._release()
            self._retry(message, f"{type(exc).__name__}: {exc}"[:200], code=None)
            return False
        if code is None:
            self._retry(message, "no answer from the centre", code=None)
            return False
        outcome = _settled(message, code, was_in_doubt)
        if outcome == "retry" and message.attempts >= MAX_FAILED_ANSWERS:
            outcome = "refused"
        if outcome == "retry":
            self._retry(message, f"the centre answered 0x{code:04X}", code=code, in_doubt=False)
            return False
        self.failures = 0
        now = timezone.now()
        with transaction.atomic():
            OutboxMessage.objects.filter(pk=message.pk).update(
                state=OutboxState.FORWARDED if outcome == "forwarded" else OutboxState.REFUSED,
                in_doubt=False,
                dicom_status=code,
                forwarded_at=now if outcome == "forwarded" else None,
                last_error="" if outcome == "forwarded" else f"refused by the centre: 0x{code:04X}",
            )
        log = logger.info if outcome == "forwarded" else logger.error
        log(
            "edge outbox #%s %s %s: %s (0x%04X, attempt %s)",
            message.pk,
            message.operation,
            message.sop_instance_uid,
            outcome,
            code,
            message.attempts,
        )
        return True

    def _retry(self, message: OutboxMessage, error: str, *, code: int | None, in_doubt: bool | None = None) -> None:
        # the back-off counts the failures in a row, sent or not (an unreachable centre is never sent to)
        self.failures += 1
        attempts = self.failures
        delay = min(2 ** min(attempts - 1, 16), settings.EDGE_RETRY_MAX_SECONDS)
        fields: dict[str, Any] = {
            "next_attempt_at": timezone.now() + dt.timedelta(seconds=delay),
            "last_error": error,
            "dicom_status": code,
        }
        if in_doubt is not None:
            fields["in_doubt"] = in_doubt
        OutboxMessage.objects.filter(pk=message.pk).update(**fields)
        if attempts in (1, 5) or attempts % 20 == 0:
            logger.warning("edge outbox #%s: not forwarded (%s); again in %s s", message.pk, error, delay)

    def _look_for_the_link(self) -> None:
        """While the link is down and MPPS wait: has replication reconnected? Then send now (one
        local query a second), rather than at the next report or the end of a message's back-off."""
        if not OutboxMessage.objects.filter(state=OutboxState.PENDING).exists():
            return
        if subscription_state(settings.RIS_SITE).running:
            self.link_up = True
            OutboxMessage.objects.filter(state=OutboxState.PENDING).update(next_attempt_at=timezone.now())

    # --- the state --------------------------------------------------------
    def report(self) -> EdgeStatus:
        """Refresh the edge's status and send it to the centre (best effort: an
        unreachable centre is what the status is about)."""
        if not self.reachable and not OutboxMessage.objects.filter(state=OutboxState.PENDING).exists():
            self._echo()
        was_connected = self.link_up
        status = edge_status_refresh(central_reachable=self.reachable)
        self.link_up = status.replication_connected
        if self.link_up and not was_connected:
            # the link is back (replication reconnected): try now rather than at the end of a long back-off
            OutboxMessage.objects.filter(state=OutboxState.PENDING).update(next_attempt_at=timezone.now())
        holds_release()
        if not status.replication_connected and time.monotonic() - self.last_as_of_log >= AS_OF_LOG_SECONDS:
            self.last_as_of_log = time.monotonic()
            as_of = status.worklist_as_of
            logger.warning(
                "edge %s: not connected to the centre; serving the worklist as of %s; %d MPPS waiting",
                status.site_code,
                timezone.localtime(as_of).strftime("%d/%m/%Y %H:%M") if as_of else "—",
                status.outbox_depth,
            )
        if settings.EDGE_CENTRAL_DATABASE_URL:
            try:
                report_to_centre(status)
            except psycopg.Error as exc:
                logger.debug("edge status not reported to the centre: %s", exc)
        return status

    def _echo(self) -> None:
        try:
            association = self._associate()
            association.send_c_echo()
            self.last_used = time.monotonic()
        except (ConnectionError, OSError, RuntimeError):
            self.reachable = False

    def run(self) -> None:
        Housekeeping(self.stop).start()
        logger.info(
            "edge forwarder for site %s: MPPS to %s at %s:%s as %s",
            settings.RIS_SITE,
            settings.EDGE_CENTRAL_AE_TITLE,
            settings.EDGE_CENTRAL_HOST,
            settings.EDGE_CENTRAL_PORT,
            settings.EDGE_AE_TITLE,
        )
        try:
            while not self.stop.is_set():
                close_old_connections()
                worked = False
                try:
                    worked = self.forward_one()
                    if not worked and not self.link_up and time.monotonic() >= self.next_link_look:
                        self.next_link_look = time.monotonic() + 1
                        self._look_for_the_link()
                    if time.monotonic() >= self.next_report:
                        self.next_report = time.monotonic() + settings.EDGE_REPORT_SECONDS
                        self.report()
                except Exception:
                    logger.exception("edge forwarder: pass failed")
                    self.stop.wait(1)
                if self.association is not None and time.monotonic() - self.last_used > IDLE_CLOSE_SECONDS:
                    self._release()
                if not worked:
                    self.stop.wait(0.2)
        finally:
            self._release()


# The centre's Celery jobs an edge needs for its own database (its gateway's audit trail and heartbeats);
# nothing that changes the replicated worklist, which only the centre's changes may touch.
HOUSEKEEPING = ("audit-seal", "audit-verify", "audit-export-prune", "monitoring-prune")


class Housekeeping(threading.Thread):
    """The edge runs no Celery: these jobs run here, on their beat intervals, in this thread."""

    def __init__(self, stop: threading.Event):
        super().__init__(name="edge-housekeeping", daemon=True)
        self.stop_event = stop
        schedule = settings.CELERY_BEAT_SCHEDULE
        self.jobs = [
            (name, import_string(str(schedule[name]["task"])), float(str(schedule[name]["schedule"])))
            for name in HOUSEKEEPING
        ]

    def run(self) -> None:
        due = {name: 0.0 for name, _job, _every in self.jobs}
        while not self.stop_event.is_set():
            for name, job, every in self.jobs:
                if time.monotonic() < due[name]:
                    continue
                due[name] = time.monotonic() + every
                try:
                    job()
                except Exception:  # logged; tried again at its next turn
                    logger.exception("edge housekeeping: %s failed", name)
                finally:
                    close_old_connections()
            self.stop_event.wait(1)


def report_to_centre(status: EdgeStatus) -> None:
    """Upsert the edge's status row in the centre's database; the centre's
    clock stamps it (its "last contact")."""
    fields = status_fields(status)
    fields.pop("reported_at")
    columns = ["site_code", *fields, "reported_at"]
    placeholders = ", ".join(["%s"] * (len(columns) - 1) + ["now()"])
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in columns[1:])
    with psycopg.connect(settings.EDGE_CENTRAL_DATABASE_URL, connect_timeout=5, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 5000")
        conn.execute(
            f"INSERT INTO edge_edgestatus ({', '.join(columns)}) VALUES ({placeholders}) "  # noqa: S608 - our names
            f"ON CONFLICT (site_code) DO UPDATE SET {updates}",
            [status.site_code, *fields.values()],
        )
