"""Writes for the procedure catalogue and imaging orders."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, Unpack

from django.conf import settings
from django.db import transaction

from audit.services import audit_snapshot, audited_save
from mwl_ris.lib.dicom import generate_uid
from mwl_ris.lib.errors import ApplicationError, Conflict
from mwl_ris.lib.validation import refuse_unknown
from orders.accession import accession_number_next
from orders.models import ExamStatus, Order, Priority, Procedure
from patients.models import Patient
from worklist.services import worklist_item_sync

if TYPE_CHECKING:
    from accounts.roles import UserLike


class ProcedureFields(TypedDict, total=False):
    """The catalogue fields a client may set, in the order the API shows them."""

    code: str
    coding_scheme: str
    name: str
    name_sw: str
    modality: str
    default_duration_minutes: int
    body_part: str
    protocol_code: str
    preparation: str
    preparation_sw: str
    active: bool


class OrderFields(TypedDict, total=False):
    """What can be changed on an order after it was placed."""

    procedure: Procedure
    priority: str
    referring_physician: str
    scheduled_performing_physician: str
    reason: str
    comments: str
    pregnancy_status: int | None
    placer_order_number: str
    filler_order_number: str


PROCEDURE_FIELDS = tuple(ProcedureFields.__annotations__)
ORDER_EDITABLE_FIELDS = frozenset(OrderFields.__annotations__)
# Rows the caller passes in, already loaded: not looked up again by full_clean.
ORDER_CHECKED_ELSEWHERE = ("patient", "procedure", "created_by")


@transaction.atomic
def procedure_create(**fields: Unpack[ProcedureFields]) -> Procedure:
    refuse_unknown(fields, PROCEDURE_FIELDS, what="procedure")
    return audited_save(Procedure(**fields))


@transaction.atomic
def procedure_update(*, procedure: Procedure, **fields: Unpack[ProcedureFields]) -> Procedure:
    refuse_unknown(fields, PROCEDURE_FIELDS, what="procedure")
    audited_save(procedure, fields)
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
    created_by: UserLike | None = None,
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
        created_by_id=getattr(created_by, "pk", None),
    )
    return audited_save(order, exclude=ORDER_CHECKED_ELSEWHERE, patient_id=patient.patient_id)


@transaction.atomic
def order_update(*, order: Order, **fields: Unpack[OrderFields]) -> Order:
    """Change what was ordered. The procedure can change only before the exam started."""
    refuse_unknown(fields, ORDER_EDITABLE_FIELDS, what="order")
    order = Order.objects.select_for_update().select_related("patient").get(pk=order.pk)
    before = audit_snapshot(order)
    procedure_changes = "procedure" in fields and fields["procedure"].pk != order.procedure_id
    if procedure_changes and order.status not in (ExamStatus.REQUESTED, ExamStatus.SCHEDULED, ExamStatus.ARRIVED):
        raise ApplicationError(
            f"The procedure of an exam that is {order.status} cannot be changed.",
            code="procedure_locked",
        )
    audited_save(
        order,
        fields,
        before=before,
        exclude=["patient", "procedure", "created_by"],
        patient_id=order.patient.patient_id,
    )
    worklist_item_sync(order=order)
    return order
