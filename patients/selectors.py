"""Reads for patients."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from mwl_ris.lib.dicom import normalise_for_search
from patients.models import BirthDatePrecision, IdentifierKind, Patient, PossibleDuplicate, normalise_phone


def patient_list(*, q: str = "", include_merged: bool = False) -> QuerySet[Patient]:
    """Patients matching a free-text search: every word must match the start
    of a name (case/accent-insensitive), or the whole text is a Patient ID
    prefix, another identifier (NHIF, NIDA) or a phone number."""
    qs = Patient.objects.all()
    if not include_merged:
        qs = qs.filter(merged_into__isnull=True)
    q = q.strip()
    if q:
        words = normalise_for_search(q).split()
        name_match = Q()
        for word in words:
            name_match &= Q(name_search__startswith=word) | Q(name_search__contains=" " + word)
        phone = normalise_phone(q)
        qs = qs.filter(
            name_match
            | Q(patient_id__istartswith=q)
            | Q(identifiers__value__iexact=q)
            | (Q(phone=phone) if phone.startswith("+") else Q(pk__in=[]))
        ).distinct()
    return qs.prefetch_related("identifiers")


@dataclass(frozen=True)
class DuplicateCandidate:
    patient: Patient
    reasons: tuple[str, ...]  # what matched: "name and birth date", "phone", "NHIF card number", …

    @property
    def reasons_text(self) -> str:
        return ", ".join(str(r) for r in self.reasons)


def _name_key(*names: str) -> frozenset[str]:
    """The words of a name, normalised (case, accents, punctuation), in any order:
    "Mushi Rehema" and "REHEMA Mushi" are the same person's name."""
    return frozenset(normalise_for_search(" ".join(names)).split())


def _same_birth(a: dt.date | None, a_precision: str, b: dt.date | None, b_precision: str) -> bool:
    if a is None or b is None:
        return False
    if BirthDatePrecision.YEAR in (a_precision, b_precision):
        return a.year == b.year
    if BirthDatePrecision.MONTH in (a_precision, b_precision):
        return (a.year, a.month) == (b.year, b.month)
    return a == b


def patient_likely_duplicates(
    *,
    family_name: str = "",
    given_name: str = "",
    birth_date: dt.date | None = None,
    birth_date_precision: str = BirthDatePrecision.DAY,
    phone: str = "",
    identifiers: list[dict[str, str]] | None = None,
    exclude_pk: int | None = None,
    limit: int = 10,
) -> list[DuplicateCandidate]:
    """Registered patients who are probably the one about to be registered: the
    same name (normalised, in any order) and birth date, the same phone number, or
    the same NHIF card or national ID. Shown before saving ("use this patient")."""
    reasons: dict[int, list[str]] = {}
    found: dict[int, Patient] = {}

    def add(patient: Patient, reason: str) -> None:
        if patient.pk == exclude_pk:
            return
        found[patient.pk] = patient
        if reason not in reasons.setdefault(patient.pk, []):
            reasons[patient.pk].append(reason)

    live = Patient.objects.filter(merged_into__isnull=True)
    wanted = _name_key(family_name, given_name)
    if wanted and birth_date is not None:
        first_word = normalise_for_search(family_name).split()[:1]
        near = live.filter(birth_date__year=birth_date.year)
        if first_word:
            near = near.filter(Q(name_search__startswith=first_word[0]) | Q(name_search__contains=" " + first_word[0]))
        for patient in near[:200]:
            if _name_key(patient.family_name, patient.given_name) == wanted and _same_birth(
                patient.birth_date, patient.birth_date_precision, birth_date, birth_date_precision
            ):
                add(patient, str(_("the same name and birth date")))
    number = normalise_phone(phone)
    if number.startswith("+"):
        for patient in live.filter(phone=number)[:limit]:
            add(patient, str(_("the same phone number")))
    for entry in identifiers or []:
        value = " ".join(str(entry.get("value", "")).split())
        kind = entry.get("kind", "")
        if value and kind in (IdentifierKind.NHIF, IdentifierKind.NATIONAL_ID):
            for patient in live.filter(identifiers__kind=kind, identifiers__value__iexact=value)[:limit]:
                add(patient, str(IdentifierKind(kind).label))
    ranked = sorted(found.values(), key=lambda p: (-len(reasons[p.pk]), p.pk))
    return [DuplicateCandidate(p, tuple(reasons[p.pk])) for p in ranked[:limit]]


def possible_duplicates_open() -> QuerySet[PossibleDuplicate]:
    """Pairs flagged at registration and not yet looked at by an admin."""
    return PossibleDuplicate.objects.filter(
        resolved_at__isnull=True, patient__merged_into__isnull=True, candidate__merged_into__isnull=True
    ).select_related("patient", "candidate")
