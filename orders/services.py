"""Writes for the procedure catalogue and imaging orders."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from mwl_ris.lib.dicom import generate_uid
from mwl_ris.lib.errors import ApplicationError, Conflict
from mwl_ris.lib.validation import full_clean_or_raise
from orders.accession import accession_number_next
from orders.models import ExamStatus, Order, Priority, Procedure
from patients.models import Patient
from worklist.services import worklist_item_sync

# The catalogue fields a client may set, in the order the API shows them.
PROCEDURE_FIELDS = (
    "code",
    "coding_scheme",
    "name",
    "name_sw",
    "modality",
    "default_duration_minutes",
    "body_part",
    "protocol_code",
    "preparation",
    "preparation_sw",
    "active",
)
ORDER_EDITABLE_FIELDS = frozenset(
    {
        "procedure",
        "priority",
        "referring_physician",
        "scheduled_performing_physician",
        "reason",
        "comments",
        "pregnancy_status",
        "placer_order_number",
        "filler_order_number",
    }
)


def procedure_create(**fields: Any) -> Procedure:
    procedure = Procedure(**{k: v for k, v in fields.items() if k in PROCEDURE_FIELDS})
    full_clean_or_raise(procedure)
    procedure.save()
    return procedure


@transaction.atomic
def procedure_update(*, procedure: Procedure, **fields: Any) -> Procedure:
    for name, value in fields.items():
        if name in PROCEDURE_FIELDS:
            setattr(procedure, name, value)
    full_clean_or_raise(procedure)
    procedure.save()
    # Booked orders show the procedure's name and codes on the worklist.
    for order in Order.objects.filter(procedure=procedure, worklist_item__isnull=False).select_related(
        "patient", "procedure"
    ):
        worklist_item_sync(order=order)
    return procedure


@transaction.atomic
def order_create(
    *,
    patient: Patient,
    procedure: Procedure,
    priority: str = Priority.ROUTINE,
    referring_physician: str = "",
    reason: str = "",
    comments: str = "",
    pregnancy_status: int | None = None,
    scheduled_performing_physician: str = "",
    placer_order_number: str = "",
    filler_order_number: str = "",
    created_by: Any = None,
) -> Order:
    """A new order in status *requested*, with its accession number, Requested
    Procedure ID and Study Instance UID assigned now (so they never change)."""
    if patient.merged_into_id is not None:
        raise ApplicationError(
            "This patient record was merged into another; order for the surviving patient.",
            code="patient_merged",
            extra={"merged_into": patient.merged_into_id},
        )
    if not procedure.active:
        raise ApplicationError(f"Procedure {procedure.code} is not active.", code="procedure_inactive")
    if placer_order_number:
        existing = Order.objects.filter(placer_order_number=placer_order_number).first()
        if existing is not None:
            raise Conflict(
                f"Placer order number {placer_order_number} is already order {existing.accession_number}.",
                code="duplicate_placer_order",
                extra={"existing_order": existing.pk, "accession_number": existing.accession_number},
            )
    accession = accession_number_next()
    order = Order(
        patient=patient,
        procedure=procedure,
        priority=priority,
        referring_physician=referring_physician,
        reason=reason,
        comments=comments,
        pregnancy_status=pregnancy_status,
        scheduled_performing_physician=scheduled_performing_physician,
        placer_order_number=placer_order_number,
        filler_order_number=filler_order_number or accession,
        accession_number=accession,
        requested_procedure_id=accession,
        study_instance_uid=generate_uid(settings.RIS_UID_ROOT),
        status=ExamStatus.REQUESTED,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    full_clean_or_raise(order, exclude=["patient", "procedure", "created_by"])
    order.save()
    return order


@transaction.atomic
def order_update(*, order: Order, **fields: Any) -> Order:
    """Change what was ordered. The procedure can change only before the exam started."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    unknown = set(fields) - ORDER_EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    procedure_changes = "procedure" in fields and fields["procedure"].pk != order.procedure_id
    if procedure_changes and order.status not in (ExamStatus.REQUESTED, ExamStatus.SCHEDULED, ExamStatus.ARRIVED):
        raise ApplicationError(
            f"The procedure of an exam that is {order.status} cannot be changed.",
            code="procedure_locked",
        )
    for name, value in fields.items():
        setattr(order, name, value)
    full_clean_or_raise(order, exclude=["patient", "procedure", "created_by"])
    order.save()
    worklist_item_sync(order=order)
    return order
