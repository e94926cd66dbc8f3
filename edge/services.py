"""An edge node's own writes: an MPPS accepted from a modality is queued for
the centre and holds its exam off the served list; holds are let go once the
centre's change has come back; the edge's state, as it reports it."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, Min, OuterRef, Q
from django.utils import timezone
from pydicom.dataset import Dataset

from edge.models import EdgeStatus, Hold, OutboxMessage, OutboxState
from edge.replication import subscription_state
from worklist.models import SERVED_STATUSES, WorklistItem

logger = logging.getLogger(__name__)


def is_edge() -> bool:
    return bool(settings.RIS_ROLE == "edge")


def served_filter() -> Q:
    """What the gateway serves beyond the query itself: at an edge, not an exam
    an MPPS here has started (the centre may not have heard of it yet)."""
    if not is_edge():
        return Q()
    return ~Q(Exists(Hold.objects.filter(study_instance_uid=OuterRef("study_instance_uid"))))


def _studies(dataset: Dataset) -> list[tuple[str, str]]:
    return [
        (str(item.get("StudyInstanceUID", "") or "").strip(), str(item.get("AccessionNumber", "") or "").strip())
        for item in dataset.get("ScheduledStepAttributesSequence", None) or []
    ]


def outbox_queue(*, operation: str, sop_instance_uid: str, dataset: Dataset, calling_ae: str) -> OutboxMessage:
    """Keep an MPPS the edge accepted, to forward; an N-CREATE holds its exams.
    Called in the transaction that applied it here."""
    now = timezone.now()
    studies = _studies(dataset)
    if operation == "N-CREATE":
        for study, _accession in studies:
            if study:
                Hold.objects.get_or_create(
                    study_instance_uid=study[:64], sop_instance_uid=sop_instance_uid[:64], defaults={"created_at": now}
                )
    elif not studies:  # an N-SET names no study: the N-CREATE's
        first = OutboxMessage.objects.filter(sop_instance_uid=sop_instance_uid, operation="N-CREATE").first()
        studies = [(first.study_instance_uid, first.accession_number)] if first else []
    study, accession = studies[0] if studies else ("", "")
    return OutboxMessage.objects.create(
        operation=operation,
        sop_instance_uid=sop_instance_uid[:64],
        dataset=dataset.to_json_dict(),
        calling_ae_title=calling_ae[:16],
        study_instance_uid=study[:64],
        accession_number=accession[:16],
        created_at=now,
        next_attempt_at=now,
    )


def holds_release() -> int:
    """Let go of holds the centre has caught up with: every message of the
    step forwarded, and the exam's replicated item no longer served (or gone)."""
    unsent = OutboxMessage.objects.filter(sop_instance_uid=OuterRef("sop_instance_uid")).exclude(
        state=OutboxState.FORWARDED
    )
    served = WorklistItem.objects.filter(
        study_instance_uid=OuterRef("study_instance_uid"), sps_status__in=SERVED_STATUSES
    )
    deleted, _ = Hold.objects.filter(~Exists(unsent), ~Exists(served)).delete()
    return deleted


@dataclass(frozen=True)
class Outbox:
    depth: int
    oldest_at: dt.datetime | None
    refused: int
    last_forwarded_at: dt.datetime | None


def outbox_summary() -> Outbox:
    pending = OutboxMessage.objects.filter(state=OutboxState.PENDING)
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    last = (
        OutboxMessage.objects.filter(state=OutboxState.FORWARDED)
        .order_by("-forwarded_at")
        .values_list("forwarded_at", flat=True)
        .first()
    )
    return Outbox(pending.count(), oldest, OutboxMessage.objects.filter(state=OutboxState.REFUSED).count(), last)


def edge_status_refresh(*, central_reachable: bool | None = None) -> EdgeStatus:
    """The edge's own status row, from its subscription and outbox now. The
    worklist is "as of" the subscription's last confirmed position; while the
    link is down PostgreSQL reports none, and the last one seen stands."""
    site = settings.RIS_SITE
    state = subscription_state(site)
    outbox = outbox_summary()
    status = EdgeStatus.objects.filter(site_code=site).first() or EdgeStatus(site_code=site)
    was_connected = status.replication_connected
    if state.running and state.confirmed_at is not None and state.syncing == 0:
        status.worklist_as_of = state.confirmed_at
    status.replication_connected = state.running and state.syncing == 0
    status.outbox_depth, status.oldest_unforwarded_at = outbox.depth, outbox.oldest_at
    status.refused, status.last_forwarded_at = outbox.refused, outbox.last_forwarded_at
    if central_reachable is not None:
        status.central_reachable = central_reachable
    status.reported_at = timezone.now()
    status.save()
    if was_connected != status.replication_connected:
        as_of = timezone.localtime(status.worklist_as_of).strftime("%d/%m/%Y %H:%M") if status.worklist_as_of else "—"
        logger.warning(
            "edge %s: replication %s; worklist as of %s",
            site,
            "connected" if status.replication_connected else "NOT connected",
            as_of,
        )
    return status


def status_fields(status: EdgeStatus) -> dict[str, Any]:
    """The columns an edge reports to the centre."""
    return {
        name: getattr(status, name)
        for name in (
            "worklist_as_of",
            "replication_connected",
            "outbox_depth",
            "oldest_unforwarded_at",
            "refused",
            "last_forwarded_at",
            "central_reachable",
            "reported_at",
        )
    }
