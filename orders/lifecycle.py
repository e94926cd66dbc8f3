"""The exam status lifecycle: the one state machine used by the UI, the API,
HL7 and MPPS. Pure: no database access.

    requested ──book──▶ scheduled ──▶ arrived ──▶ in_progress ──▶ completed
        │                 │  ▲           │  │            └──────▶ discontinued
        │                 │  └reschedule─┘  │
        ▼                 ▼                 ▼
    cancelled ◀───────── (any not yet started)      no_show ──rebook──▶ scheduled
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mwl_ris.lib.errors import InvalidTransition


class ExamStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested (not booked)")
    SCHEDULED = "scheduled", _("Scheduled")
    ARRIVED = "arrived", _("Arrived")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")
    DISCONTINUED = "discontinued", _("Discontinued")


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
