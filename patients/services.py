"""Writes for patients: registration, demographic updates, identifiers, merge."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.roles import stored_user
from audit.services import audit_record, audit_snapshot
from mwl_ris.lib.errors import ApplicationError, Conflict
from mwl_ris.lib.validation import FieldErrors, full_clean_or_raise, refuse_unknown
from orders.accession import counter_next
from orders.models import Order
from patients.models import (
    BirthDatePrecision,
    IdentifierKind,
    Patient,
    PatientIdentifier,
    PatientMerge,
    PossibleDuplicate,
    normalise_phone,
)
from patients.selectors import DuplicateCandidate, patient_likely_duplicates
from patients.signals import patient_merged
from worklist.services import worklist_items_sync_patient

if TYPE_CHECKING:
    from accounts.roles import UserLike


class PatientFields(TypedDict, total=False):
    """The demographics a service may set on a patient, by name."""

    patient_id: str
    issuer: str
    family_name: str
    given_name: str
    middle_name: str
    ideographic_name: str
    phonetic_name: str
    name_prefix: str
    name_suffix: str
    medical_alerts: str
    allergies: str
    birth_date: date | None
    birth_date_precision: str
    sex: str
    phone: str
    address: str
    language: str


PATIENT_FIELDS = frozenset(PatientFields.__annotations__)


def patient_id_next() -> str:
    """A generated Patient ID for patients registered here without one."""
    return f"{settings.RIS_PATIENT_ID_PREFIX}{counter_next(scope='patient-id'):07d}"


def _clean_fields(fields: PatientFields) -> dict[str, Any]:
    refuse_unknown(fields, PATIENT_FIELDS, what="patient")
    cleaned: dict[str, Any] = dict(fields)
    texts = ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix", "ideographic_name")
    for name in (*texts, "phonetic_name", "medical_alerts", "allergies", "patient_id", "issuer"):
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
            audit_record("create", instance=identifier, patient_id=patient.patient_id)


class LikelyDuplicate(Conflict):
    """409: patients who are probably this one are already registered; the
    caller shows them ("use this patient") or confirms a new registration."""

    code = "possible_duplicate"


def _candidate_facts(candidate: DuplicateCandidate) -> dict[str, Any]:
    p = candidate.patient
    return {
        "id": p.pk,
        "patient_id": p.patient_id,
        "name": p.display_name,
        "birth_date": p.birth_date.isoformat() if p.birth_date else None,
        "birth_date_display": p.birth_date_display,
        "phone": p.phone,
        "reasons": list(candidate.reasons),
    }


@transaction.atomic
def patient_create(
    *,
    identifiers: list[dict[str, str]] | None = None,
    duplicates: str = "flag",
    via: str = "system",
    **given: Unpack[PatientFields],
) -> Patient:
    """Register a patient. Likely duplicates (patients.selectors.patient_likely_duplicates)
    are, by ``duplicates``: ``"refuse"`` — raise LikelyDuplicate naming them (the
    desk and the API, until the user confirms); ``"flag"`` — register and keep each
    pair for an admin to review (a confirmed registration, HL7, imports);
    ``"ignore"`` — neither (demo data)."""
    fields = _clean_fields(given)
    candidates = []
    if duplicates != "ignore":
        candidates = patient_likely_duplicates(
            family_name=fields.get("family_name", ""),
            given_name=fields.get("given_name", ""),
            birth_date=fields.get("birth_date"),
            birth_date_precision=fields.get("birth_date_precision") or BirthDatePrecision.DAY,
            phone=fields.get("phone", ""),
            identifiers=identifiers,
        )
    if candidates and duplicates == "refuse":
        names = "; ".join(f"{c.patient.display_name} ({c.patient.patient_id}: {c.reasons_text})" for c in candidates)
        raise LikelyDuplicate(
            _("This patient may already be registered: %(names)s.") % {"names": names},
            extra={"candidates": [_candidate_facts(c) for c in candidates]},
        )
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
    audit_record("create", instance=patient, patient_id=patient.patient_id)
    _save_identifiers(patient, identifiers or [])
    for candidate in candidates:
        PossibleDuplicate.objects.get_or_create(
            patient=patient,
            candidate=candidate.patient,
            defaults={"reasons": candidate.reasons_text[:200], "flagged_via": via[:32]},
        )
    return patient


def possible_duplicate_resolve(*, flag: PossibleDuplicate, resolution: str, actor: UserLike | None = None) -> None:
    """An admin looked at a flagged pair: "merged" (done by patient_merge) or "different" people."""
    PossibleDuplicate.objects.filter(pk=flag.pk).update(
        resolved_at=timezone.now(),
        resolution=resolution[:16],
        resolved_by=stored_user(actor),
    )
    audit_record(
        "update",
        object_type="patients.PossibleDuplicate",
        object_id=flag.pk,
        patient_id=flag.patient.patient_id,
        summary=f"{flag.patient.patient_id} ~ {flag.candidate.patient_id}: {resolution}",
        after={"resolution": resolution},
    )


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    identifiers: list[dict[str, str]] | None = None,
    replace_identifier_kinds: frozenset[str] = frozenset(),
    **fields: Unpack[PatientFields],
) -> Patient:
    """Change demographics; the patient's worklist items show the change at once.
    Identifiers are added; for the kinds in ``replace_identifier_kinds`` (a
    corrected NHIF number) those not in ``identifiers`` are removed."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    before = audit_snapshot(patient)
    for name, value in _clean_fields(fields).items():
        setattr(patient, name, value)
    patient.refresh_search_fields()
    full_clean_or_raise(patient)
    patient.save()
    audit_record("update", instance=patient, patient_id=patient.patient_id, before=before)
    if replace_identifier_kinds:
        keep = {(i.get("kind"), " ".join(str(i.get("value", "")).split())) for i in identifiers or []}
        for old in patient.identifiers.filter(kind__in=replace_identifier_kinds):
            if (old.kind, old.value) not in keep:
                audit_record("delete", instance=old, patient_id=patient.patient_id)
                old.delete()
    if identifiers is not None:
        _save_identifiers(patient, identifiers)
    worklist_items_sync_patient(patient=patient)
    return patient


@transaction.atomic
def patient_merge(*, source: Patient, target: Patient, actor: UserLike | None = None, via: str = "ui") -> PatientMerge:
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
    previous_id, created = PatientIdentifier.objects.get_or_create(
        kind=IdentifierKind.PREVIOUS_ID,
        issuer=source.issuer,
        value=source.patient_id,
        defaults={"patient": target},
    )
    if created:
        audit_record("create", instance=previous_id, patient_id=target.patient_id)
    Patient.objects.filter(pk=source.pk).update(merged_into=target)
    source.merged_into = target
    PossibleDuplicate.objects.filter(
        Q(patient=source, candidate=target) | Q(patient=target, candidate=source), resolved_at__isnull=True
    ).update(resolved_at=timezone.now(), resolution="merged", resolved_by=stored_user(actor))
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
        merged_by=stored_user(actor),
        merged_via=via,
    )
    audit_record("create", instance=merge, patient_id=source.patient_id)
    worklist_items_sync_patient(patient=target)
    return merge
