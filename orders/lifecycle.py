"""Exam transitions: the one place where an exam's status changes, for the UI,
the REST API, HL7, MPPS, booking and the expiry job.

    requested ──book──▶ scheduled ──▶ arrived ──▶ in_progress ──▶ completed
        │                 │  ▲           │  │            └──────▶ discontinued
        │                 │  └reschedule─┘  │
        ▼                 ▼                 ▼
    cancelled ◀───────── (any not yet started)      no_show ──rebook──▶ scheduled

What happens in a transition, in this order, inside one transaction:

1. the move is checked against ``TRANSITIONS`` (a reason is required to cancel
   or discontinue), then by the CHECK subscribers;
2. the order is updated conditionally, from the status it was read in (a
   change made meanwhile is refused), with the moment of the step;
3. the audit record is written (audit.services.audit_record);
4. the subscribers run, stage by stage (``SUBSCRIBERS``; each app registers its
   own in its AppConfig.ready, so this module imports none of them):

   ==========  ===================================================================
   CHECK       scheduling.transitions.no_show_not_before_start: a no-show only
               once the appointment began, plus the grace
   SLOT        scheduling.transitions.appointment_follows_exam: a cancel or
               no-show frees the slot; an undone no-show takes it back
   PROJECTION  worklist.services.worklist_follows_exam: the served worklist item
   NOTIFY      hl7_interface.subscribers.status_to_placer: ORM^O01 status to each
               HL7 destination, delivered after commit
   ==========  ===================================================================

Reminders subscribe to nothing: the reminder job reads the status when it sends.
Booking and rescheduling (scheduling.booking) need a slot first; they call
``exam_schedule`` for the status step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from accounts.roles import Action, user_can
from audit.services import audit_record
from mwl_ris.lib.errors import ApplicationError, Conflict, InvalidTransition, PermissionRefused
from orders.models import ExamStatus, Order

if TYPE_CHECKING:
    from accounts.roles import UserLike

S = ExamStatus

TRANSITIONS: dict[ExamStatus, frozenset[ExamStatus]] = {
    S.REQUESTED: frozenset({S.SCHEDULED, S.CANCELLED}),
    # A modality may start an exam (MPPS) without the patient being marked arrived.
    S.SCHEDULED: frozenset({S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.CANCELLED, S.NO_SHOW}),
    # An arrived patient who left before the exam (or was never called in) is a no-show too.
    S.ARRIVED: frozenset({S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED, S.NO_SHOW}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.DISCONTINUED}),
    S.NO_SHOW: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.DISCONTINUED: frozenset(),
}

# A mistaken step can be undone, back to the status it came from (a mis-tapped
# "arrived", "start" or "no-show"). Completing, discontinuing and cancelling are final.
UNDOABLE: dict[ExamStatus, frozenset[ExamStatus]] = {
    S.ARRIVED: frozenset({S.SCHEDULED}),
    S.IN_PROGRESS: frozenset({S.SCHEDULED, S.ARRIVED}),
    S.NO_SHOW: frozenset({S.SCHEDULED, S.ARRIVED}),
}

# Statuses in which the exam holds its appointment slot and is on the worklist projection.
SLOT_HOLDING = frozenset({S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.COMPLETED, S.DISCONTINUED})
# Statuses that end the exam for good.
FINAL = frozenset({S.COMPLETED, S.CANCELLED, S.DISCONTINUED})

# The moment each step is reached is kept on the order (waiting times on the dashboard).
STEP_TIMESTAMP = {
    S.ARRIVED: "arrived_at",
    S.IN_PROGRESS: "started_at",
    S.COMPLETED: "ended_at",
    S.DISCONTINUED: "ended_at",
}


def allowed_transitions(current: str) -> frozenset[ExamStatus]:
    return TRANSITIONS[ExamStatus(current)]


def check_transition(current: str, target: str) -> None:
    """Raise InvalidTransition with a message a user can act on."""
    cur, tgt = ExamStatus(current), ExamStatus(target)
    if tgt not in TRANSITIONS[cur]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[cur])) or gettext("none (final status)")
        raise InvalidTransition(
            gettext("An exam that is %(current)s cannot become %(target)s. Allowed next: %(allowed)s.")
            % {"current": cur.value, "target": tgt.value, "allowed": allowed},
            extra={"from": cur.value, "to": tgt.value, "allowed": sorted(s.value for s in TRANSITIONS[cur])},
        )


# --- subscribers ----------------------------------------------------------------


class Stage(IntEnum):
    """When a subscriber runs; each stage sees what the earlier ones did."""

    CHECK = 1  # before the update; raise to refuse
    SLOT = 2  # the appointment follows the exam
    PROJECTION = 3  # read models follow the exam (the worklist)
    NOTIFY = 4  # other systems are told (queued in the transaction, sent after commit)


@dataclass(frozen=True)
class Transition:
    """One status change, as subscribers see it. ``order`` is locked; from the
    SLOT stage on it carries the new status."""

    order: Order
    previous: ExamStatus
    target: ExamStatus
    reason: str = ""
    actor: UserLike | None = None
    undo: bool = False


Subscriber = Callable[[Transition], None]
SUBSCRIBERS: dict[Stage, list[Subscriber]] = {stage: [] for stage in Stage}


def subscribe(stage: Stage, subscriber: Subscriber) -> None:
    """Register ``subscriber`` for every transition (idempotent; AppConfig.ready calls it)."""
    if subscriber not in SUBSCRIBERS[stage]:
        SUBSCRIBERS[stage].append(subscriber)


def subscribers() -> list[tuple[str, str]]:
    """The registered subscribers in the order they run, as (stage, module.function)."""
    return [(stage.name, f"{fn.__module__}.{fn.__qualname__}") for stage in Stage for fn in SUBSCRIBERS[stage]]


def _notify(stage: Stage, change: Transition) -> None:
    for subscriber in SUBSCRIBERS[stage]:
        subscriber(change)


# --- the transitions -------------------------------------------------------------


def _lock(order: Order) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("procedure", "patient").get(pk=order.pk)


def _apply(
    order: Order,
    target: ExamStatus,
    *,
    reason: str = "",
    at: dt.datetime | None = None,
    actor: UserLike | None = None,
    undo: bool = False,
) -> None:
    """Steps 2 to 4 of the module's docstring, on an order the caller locked and checked."""
    now = timezone.now()
    previous = ExamStatus(order.status)
    fields: dict[str, Any] = {
        "status": target,
        "status_reason": "" if undo else reason[:200],
        "updated_at": now,
        # an undo leaves nothing to redo: one step back only
        "status_previous": "" if undo else previous,
        "status_changed_at": now,
        "status_changed_by_id": getattr(actor, "pk", None),
    }
    if undo:
        cleared = {S.ARRIVED: "arrived_at", S.IN_PROGRESS: "started_at"}.get(previous)
        if cleared:
            fields[cleared] = None
        if target == S.SCHEDULED:
            fields["arrived_at"] = None
    elif stamp := STEP_TIMESTAMP.get(target):
        fields[stamp] = at or now
    elif target == S.SCHEDULED:  # rebooked: the next visit starts afresh
        fields.update(arrived_at=None, started_at=None, ended_at=None)
    changed = Order.objects.filter(pk=order.pk, status=previous).update(**fields)
    if changed != 1:
        raise Conflict(_("The exam's status was changed by someone else meanwhile; reload and try again."))
    for name, value in fields.items():
        setattr(order, name, value)
    if undo:
        summary, after = f"{order.accession_number}: undo {previous} -> {target}", {"status": target, "undo": True}
    else:
        summary = f"{order.accession_number}: {previous} -> {target}" + (f" ({reason[:100]})" if reason else "")
        after = {k: v for k, v in fields.items() if k not in ("updated_at", "status_changed_at")}
    audit_record(
        "status",
        object_type="orders.Order",
        object_id=order.pk,
        patient_id=order.patient.patient_id,
        summary=summary,
        before={"status": previous},
        after=after,
    )
    change = Transition(order=order, previous=previous, target=target, reason=reason, actor=actor, undo=undo)
    for stage in (Stage.SLOT, Stage.PROJECTION, Stage.NOTIFY):
        _notify(stage, change)


@transaction.atomic
def exam_transition(
    *, order: Order, to: str, reason: str = "", actor: UserLike | None = None, at: dt.datetime | None = None
) -> Order:
    """Move an exam along the lifecycle: arrived, start, complete, no-show,
    discontinue, cancel. ``at``: when it happened (MPPS and HL7 report it;
    default now). Returns the locked, updated order; ``order`` gets its status."""
    target = ExamStatus(to)
    if target == S.SCHEDULED:
        raise ApplicationError("Use booking or rescheduling to schedule an exam.", code="use_booking")
    locked = _lock(order)
    check_transition(locked.status, target)
    if target in (S.CANCELLED, S.DISCONTINUED) and not reason.strip():
        raise ApplicationError(_("Give a reason for cancelling or discontinuing."), code="reason_required")
    _notify(Stage.CHECK, Transition(order=locked, previous=ExamStatus(locked.status), target=target, reason=reason))
    _apply(locked, target, reason=reason, at=at, actor=actor)
    order.status, order.status_reason = locked.status, locked.status_reason
    return locked


def exam_schedule(*, order: Order, reason: str = "", actor: UserLike | None = None) -> None:
    """The status step of a booking or a move (scheduling.booking), on an order
    the caller locked, checked and gave a slot, in the caller's transaction."""
    check_transition(order.status, S.SCHEDULED)
    _apply(order, S.SCHEDULED, reason=reason, actor=actor)


def undo_allowed(order: Order, actor: UserLike | None, now: dt.datetime | None = None) -> bool:
    """May ``actor`` undo the exam's last step? The one who made it, within
    EXAM_UNDO_MINUTES; an admin at any time (audited either way)."""
    if ExamStatus(order.status) not in UNDOABLE or order.status_previous not in UNDOABLE[ExamStatus(order.status)]:
        return False
    if actor is None:
        return False
    if user_can(actor, Action.OVERRIDE_HOURS):
        return True
    if order.status_changed_by_id is None or order.status_changed_by_id != getattr(actor, "pk", None):
        return False
    window = dt.timedelta(minutes=settings.EXAM_UNDO_MINUTES)
    return order.status_changed_at is not None and (now or timezone.now()) - order.status_changed_at <= window


@transaction.atomic
def exam_step_undo(*, order: Order, actor: UserLike | None) -> Order:
    """Take back a mistaken "arrived", "start" or "no-show": the exam returns to
    the status it came from. An undone no-show takes its slot back if the slot
    is still free (the SLOT subscriber); if not, the exam must be booked again."""
    locked = _lock(order)
    if not undo_allowed(locked, actor):
        current = ExamStatus(locked.status)
        if current in UNDOABLE and locked.status_previous in UNDOABLE[current]:
            raise PermissionRefused(
                _("Only the person who made this step can undo it, within %(minutes)d minutes; after that an admin.")
                % {"minutes": settings.EXAM_UNDO_MINUTES},
                code="undo_not_allowed",
            )
        raise Conflict(_("There is no step to undo for this exam."), code="nothing_to_undo")
    _apply(locked, ExamStatus(locked.status_previous), actor=actor, undo=True)
    return locked
