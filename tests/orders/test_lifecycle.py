from __future__ import annotations

import pytest

from mwl_ris.lib.errors import InvalidTransition
from orders.lifecycle import TRANSITIONS, ExamStatus, check_transition

S = ExamStatus

ALLOWED = [
    (S.REQUESTED, S.SCHEDULED),
    (S.REQUESTED, S.CANCELLED),
    (S.SCHEDULED, S.ARRIVED),
    (S.SCHEDULED, S.IN_PROGRESS),
    (S.SCHEDULED, S.SCHEDULED),
    (S.SCHEDULED, S.NO_SHOW),
    (S.SCHEDULED, S.CANCELLED),
    (S.ARRIVED, S.IN_PROGRESS),
    (S.ARRIVED, S.SCHEDULED),
    (S.ARRIVED, S.CANCELLED),
    (S.ARRIVED, S.NO_SHOW),  # left before the exam; also how a stale arrival expires
    (S.IN_PROGRESS, S.COMPLETED),
    (S.IN_PROGRESS, S.DISCONTINUED),
    (S.NO_SHOW, S.SCHEDULED),
    (S.NO_SHOW, S.CANCELLED),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_it_allows_the_lifecycle_steps(current: ExamStatus, target: ExamStatus) -> None:
    check_transition(current, target)


def test_it_refuses_every_other_step_with_the_allowed_ones_named() -> None:
    allowed = set(ALLOWED)
    refused = [(c, t) for c in S for t in S if (c, t) not in allowed]
    assert len(refused) == len(S) ** 2 - len(ALLOWED)
    for current, target in refused:
        with pytest.raises(InvalidTransition) as info:
            check_transition(current, target)
        assert info.value.extra["allowed"] == sorted(s.value for s in TRANSITIONS[current])
        assert current.value in info.value.message


def test_final_statuses_have_no_way_out() -> None:
    for final in (S.COMPLETED, S.CANCELLED, S.DISCONTINUED):
        assert TRANSITIONS[final] == frozenset()


def test_what_follows_a_transition_is_the_documented_subscriber_list_in_stage_order() -> None:
    from orders import lifecycle

    registered = lifecycle.subscribers()
    assert registered == [
        ("CHECK", "scheduling.transitions.no_show_not_before_start"),
        ("SLOT", "scheduling.transitions.appointment_follows_exam"),
        ("PROJECTION", "worklist.services.worklist_follows_exam"),
        ("NOTIFY", "hl7_interface.subscribers.status_to_placer"),
    ]
    doc = " ".join((lifecycle.__doc__ or "").split())
    for stage, name in registered:
        assert f"{stage} {name}:" in doc, f"orders/lifecycle.py's docstring does not list {name} under {stage}"
