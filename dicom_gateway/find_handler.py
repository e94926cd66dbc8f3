"""The C-FIND handler: looks up the caller's profile, runs find.py's
matching with a cancel check that also applies backpressure, and has every
query journalled (recorder.py) before its final response goes out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import cast

from django.db import close_old_connections, connection
from django.utils import timezone
from pydicom import Dataset
from pydicom.uid import UID
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.events import Event

from dicom_gateway import accel, status
from dicom_gateway.access import AccessPolicy, calling_ae_of, peer_of
from dicom_gateway.encoding import ProfileSettings
from dicom_gateway.find import FindOutcome, PreEncodedReply, Response, find_worklist, find_worklist_preencoded
from dicom_gateway.matching import InvalidIdentifier
from dicom_gateway.recorder import QueryRecorder
from monitoring.metrics import CFIND, CFIND_EMPTY

logger = logging.getLogger(__name__)

CANCEL_CHECK_EVERY = 8  # matches between waits for the outgoing queue to drain


def cancel_check(event: Event) -> Callable[[], bool]:
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


def _decoded_identifier(event: Event) -> Dataset:
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


class FindHandler:
    """EVT_C_FIND for the Modality Worklist Information Model - FIND."""

    def __init__(self, *, policy: AccessPolicy, recorder: QueryRecorder, accelerated: bool):
        self.policy, self.recorder, self.accelerated = policy, recorder, accelerated

    def __call__(self, event: Event) -> Iterator[Response | PreEncodedReply]:
        return self.handle_find(event)

    def handle_find(self, event: Event) -> Iterator[Response | PreEncodedReply]:
        """The C-FIND responses; the query is journalled (recorder.py) before its
        final response goes out, whatever the outcome."""
        started = time.perf_counter()
        received_at = timezone.now()
        calling = calling_ae_of(event)
        caller = self.policy.lookup(calling)
        profile = caller.profile if caller else ProfileSettings()
        outcome = FindOutcome()
        transfer_syntax = event.context.transfer_syntax
        request = cast(C_FIND, event.request)  # EVT_C_FIND carries a C-FIND request
        raw_identifier = request.Identifier.getvalue() if request.Identifier is not None else b""
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
        event: Event,
        calling: str,
        outcome: FindOutcome,
        started: float,
        received_at: datetime,
        identifier: tuple[bytes, UID],
    ) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        keys = ",".join(f"{k}:{v}" for k, v in outcome.summary.items())
        logger.info(
            "C-FIND peer=%s calling_ae=%s keys=%s matches=%d status=0x%04X ms=%.1f%s",
            peer_of(event),
            calling,
            keys or "-",
            outcome.matches,
            outcome.status,
            elapsed,
            f" comment={outcome.comment}" if outcome.comment else "",
        )
        connection.close()
        label = calling if self.policy.lookup(calling) else "(other)"
        if outcome.status == status.CANCELLED:
            result = "cancelled"
        elif outcome.status != status.SUCCESS:
            result = "failed"
        else:
            result = "matched" if outcome.matches else "empty"
            if not outcome.matches:
                CFIND_EMPTY.labels(calling_ae=label).inc()
        CFIND.labels(calling_ae=label, outcome=result).observe(elapsed / 1000)
        self.recorder.record(
            keys=keys,
            calling_ae_title=calling[:16],
            peer=peer_of(event)[:64],
            identifier=identifier,
            matches=outcome.matches,
            status=outcome.status,
            duration_ms=elapsed,
            received_at=received_at,
        )
