"""Writes for patients: registration, demographic updates, identifiers, merge."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from audit.services import audit_record
from mwl_ris.lib.errors import ApplicationError, Conflict
from mwl_ris.lib.validation import FieldErrors, full_clean_or_raise
from orders.accession import counter_next
from orders.models import Order
from patients.models import IdentifierKind, Patient, PatientIdentifier, PatientMerge, normalise_phone
from patients.signals import patient_merged
from worklist.services import worklist_items_sync_patient

PATIENT_FIELDS = frozenset(
    {
        "patient_id",
        "issuer",
        "family_name",
        "given_name",
        "middle_name",
        "ideographic_name",
        "birth_date",
        "birth_date_precision",
        "sex",
        "phone",
        "address",
        "language",
    }
)


def patient_id_next() -> str:
    """A generated Patient ID for patients registered here without one."""
    return f"{settings.RIS_PATIENT_ID_PREFIX}{counter_next(scope='patient-id'):07d}"


def _clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - PATIENT_FIELDS
    if unknown:
        raise ApplicationError(f"Unknown patient fields: {', '.join(sorted(unknown))}.")
    cleaned = dict(fields)
    for name in ("family_name", "given_name", "middle_name", "ideographic_name", "patient_id", "issuer"):
        if name in cleaned and cleaned[name] is not None:
            cleaned[name] = " ".join(str(cleaned[name]).split())
    if "phone" in cleaned:
        cleaned["phone"] = normalise_phone(cleaned["phone"] or "")
    return cleaned


def _save_identifiers(patient: Patient, identifiers: list[dict[str, str]]) -> None:
    for entry in identifiers:
        value = " ".join(str(entry.get("value", "")).split())
        if not value:
            continue
        kind = entry.get("kind", IdentifierKind.OTHER)
        issuer = entry.get("issuer", "")
        existing = PatientIdentifier.objects.filter(kind=kind, issuer=issuer, value=value).first()
        if existing is not None and existing.patient_id != patient.pk:
            raise FieldErrors(
                {"identifiers": [f"{kind} {value} already belongs to patient {existing.patient.patient_id}."]}
            )
        if existing is None:
            identifier = PatientIdentifier(patient=patient, kind=kind, issuer=issuer, value=value)
            full_clean_or_raise(identifier, exclude=["patient"])
            identifier.save()


@transaction.atomic
def patient_create(*, identifiers: list[dict[str, str]] | None = None, **fields: Any) -> Patient:
    fields = _clean_fields(fields)
    if not fields.get("patient_id"):
        fields["patient_id"] = patient_id_next()
    fields.setdefault("issuer", settings.RIS_DEFAULT_ISSUER)
    patient = Patient(**fields)
    patient.refresh_search_fields()
    full_clean_or_raise(patient)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:  # lost a race for the same patient ID
        raise Conflict(f"Patient ID {patient.patient_id} is already registered.", code="duplicate_patient") from exc
    _save_identifiers(patient, identifiers or [])
    return patient


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    identifiers: list[dict[str, str]] | None = None,
    replace_identifier_kinds: frozenset[str] = frozenset(),
    **fields: Any,
) -> Patient:
    """Change demographics; the patient's worklist items show the change at once.
    Identifiers are added; for the kinds in ``replace_identifier_kinds`` (a
    corrected NHIF number) those not in ``identifiers`` are removed."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    for name, value in _clean_fields(fields).items():
        setattr(patient, name, value)
    patient.refresh_search_fields()
    full_clean_or_raise(patient)
    patient.save()
    if replace_identifier_kinds:
        keep = {(i.get("kind"), " ".join(str(i.get("value", "")).split())) for i in identifiers or []}
        for old in patient.identifiers.filter(kind__in=replace_identifier_kinds):
            if (old.kind, old.value) not in keep:
                old.delete()
    if identifiers is not None:
        _save_identifiers(patient, identifiers)
    worklist_items_sync_patient(patient=patient)
    return patient


@transaction.atomic
def patient_merge(*, source: Patient, target: Patient, actor: Any = None, via: str = "ui") -> PatientMerge:
    """Merge ``source`` (the duplicate) into ``target`` (the survivor): orders
    and identifiers move to the target, the source's Patient ID is kept on the
    target as a *previous ID*, and the source record stays, marked merged."""
    if source.pk == target.pk:
        raise ApplicationError("A patient cannot be merged into itself.", code="merge_self")
    # Lock both rows in a fixed order so two merges cannot deadlock.
    locked = {p.pk: p for p in Patient.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id is not None:
        raise Conflict(f"Patient {source.patient_id} was already merged.", code="already_merged")
    if target.merged_into_id is not None:
        raise Conflict(
            f"Patient {target.patient_id} was itself merged into another record; merge into that one.",
            code="target_merged",
        )
    moved = Order.objects.filter(patient=source).update(patient=target)
    PatientIdentifier.objects.filter(patient=source).update(patient=target)
    PatientIdentifier.objects.get_or_create(
        kind=IdentifierKind.PREVIOUS_ID,
        issuer=source.issuer,
        value=source.patient_id,
        defaults={"patient": target},
    )
    Patient.objects.filter(pk=source.pk).update(merged_into=target)
    source.merged_into = target
    patient_merged.send(sender=Patient, source=source, target=target)
    audit_record(
        "merge",
        object_type="patients.Patient",
        object_id=source.pk,
        patient_id=source.patient_id,
        summary=f"{source.patient_id} merged into {target.patient_id} ({moved} orders moved)",
        before={"merged_into": None},
        after={"merged_into": target.pk, "target_patient_id": target.patient_id, "orders_moved": moved},
    )
    merge = PatientMerge.objects.create(
        source=source,
        target=target,
        source_patient_id=source.patient_id,
        source_issuer=source.issuer,
        orders_moved=moved,
        merged_by=actor if getattr(actor, "pk", None) else None,
        merged_via=via,
    )
    worklist_items_sync_patient(patient=target)
    return merge
