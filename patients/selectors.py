"""Reads for patients."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from mwl_ris.lib.dicom import normalise_for_search
from patients.models import Patient, normalise_phone


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
