from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from mwl_ris.lib.dicom import generate_uid, normalise_for_search, person_name, validate_ae_title, validate_uid


@pytest.mark.parametrize("value", ["CT_ROOM3", "A", "X" * 16, "MR 1", "us-room.4"])
def test_it_accepts_valid_ae_titles(value: str) -> None:
    validate_ae_title(value)


@pytest.mark.parametrize("value", ["", "    ", "X" * 17, "CT\\1", "CT\n1", "ÜS1"])
def test_it_rejects_invalid_ae_titles(value: str) -> None:
    with pytest.raises(ValidationError):
        validate_ae_title(value)


def test_generated_uids_are_valid_2_25_uids_and_unique() -> None:
    uids = {generate_uid() for _ in range(200)}
    assert len(uids) == 200
    for uid in uids:
        assert uid.startswith("2.25.")
        assert len(uid) <= 64
        validate_uid(uid)


def test_generated_uids_use_a_configured_root_and_stay_within_64_characters() -> None:
    uid = generate_uid("1.2.826.0.1.3680043.10.999")
    assert uid.startswith("1.2.826.0.1.3680043.10.999.")
    assert len(uid) <= 64
    validate_uid(uid)


@pytest.mark.parametrize("value", ["1.2.03", "1..2", "abc", "1.2." + "9" * 70, ""])
def test_it_rejects_invalid_uids(value: str) -> None:
    with pytest.raises(ValidationError):
        validate_uid(value)


def test_person_name_drops_empty_trailing_components_and_separators_in_values() -> None:
    assert person_name("Mwakyusa", "Neema", "Joseph") == "Mwakyusa^Neema^Joseph"
    assert person_name("Mwakyusa", "Neema") == "Mwakyusa^Neema"
    assert person_name("Mwa^kyusa", "", "Joseph") == "Mwa kyusa^^Joseph"


def test_search_form_folds_case_accents_and_separators() -> None:
    assert normalise_for_search("DUBÉ^Amélie") == "dube amelie"
    assert normalise_for_search("  Ng'wandu   Søren ŁUKASIK") == "ng'wandu soren lukasik"
