from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import checks
from django.db import IntegrityError
from django.test import override_settings

from mwl_ris.lib.errors import ApplicationError
from orders.accession import accession_number_next
from orders.checks import check_accession_format
from orders.models import Order


@pytest.mark.django_db
def test_accession_numbers_count_up_per_day_in_the_default_scheme(frozen_clock: Any) -> None:
    assert [accession_number_next() for _ in range(3)] == ["A2612010001", "A2612010002", "A2612010003"]
    frozen_clock.shift(dt.timedelta(days=1))
    assert accession_number_next() == "A2612020001"


@pytest.mark.django_db
@override_settings(ACCESSION_FORMAT="{prefix}{seq:08d}", ACCESSION_PREFIX="MNH")
def test_a_configured_scheme_without_a_date_counts_for_ever(frozen_clock: Any) -> None:
    assert accession_number_next() == "MNH00000001"
    frozen_clock.shift(dt.timedelta(days=400))
    assert accession_number_next() == "MNH00000002"


@pytest.mark.django_db
@override_settings(ACCESSION_FORMAT="{prefix}{date:%Y%m%d}{seq:06d}", ACCESSION_PREFIX="HOSP")
def test_a_scheme_that_renders_more_than_16_characters_is_refused_clearly() -> None:
    with pytest.raises(ApplicationError, match="ACCESSION_FORMAT"):
        accession_number_next()


@override_settings(ACCESSION_FORMAT="{prefix}{date:%Y%m%d}{seq:06d}", ACCESSION_PREFIX="HOSP")
def test_the_system_check_reports_a_too_long_scheme() -> None:
    assert [e.id for e in check_accession_format(None)] == ["ris.orders.E003"]


@override_settings(ACCESSION_FORMAT="{prefix}{date:%y%m%d}")
def test_the_system_check_reports_a_scheme_without_a_counter() -> None:
    assert [e.id for e in check_accession_format(None)] == ["ris.orders.E002"]


@override_settings(ACCESSION_FORMAT="{prefix}{unknown}{seq}")
def test_the_system_check_reports_an_unrenderable_scheme() -> None:
    errors = check_accession_format(None)
    assert [e.id for e in errors] == ["ris.orders.E001"]
    assert all(isinstance(e, checks.Error) for e in errors)


def test_the_default_scheme_passes_the_system_check() -> None:
    assert check_accession_format(None) == []


@pytest.mark.django_db
def test_the_database_refuses_a_duplicate_accession_number(order: Order) -> None:
    duplicate = Order(
        patient=order.patient,
        procedure=order.procedure,
        accession_number=order.accession_number,
        requested_procedure_id="X1",
        study_instance_uid="2.25.1",
    )
    with pytest.raises(IntegrityError):
        duplicate.save()
