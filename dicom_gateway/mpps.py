"""Modality Performed Procedure Step SCP logic (PS3.4 Annex F; IHE RAD-6/RAD-7):
what an N-CREATE and an N-SET do to the RIS, and which DICOM status answers
them. No networking here: mpps_handler.py hands in the decoded datasets.

  N-CREATE  IN PROGRESS  ──▶ the exam goes "in progress" (the order is found
                              through the Scheduled Step Attributes Sequence)
  N-SET     COMPLETED    ──▶ completed, the performed series are kept
  N-SET     DISCONTINUED ──▶ discontinued, with the discontinuation reason
  N-SET     after COMPLETED/DISCONTINUED ──▶ refused, 0x0110
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from audit.services import audit_record
from dicom_gateway import status
from dicom_gateway.models import PerformedProcedureStep, PpsStatus
from mwl_ris.lib.errors import ApplicationError
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order

logger = logging.getLogger(__name__)

# Type 1 attributes of the N-CREATE (PS3.4 Table F.7.2-1) we need to link and track the step.
CREATE_REQUIRED = (
    "ScheduledStepAttributesSequence",
    "PerformedProcedureStepID",
    "PerformedStationAETitle",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepStatus",
    "Modality",
)
FINAL = {PpsStatus.COMPLETED, PpsStatus.DISCONTINUED}
DEFAULT_DISCONTINUATION = "Discontinued at the modality"


@dataclass
class Answer:
    status: int
    comment: str = ""
    dataset: Dataset | None = None
    step: PerformedProcedureStep | None = None

    def status_dataset(self) -> Dataset:
        ds = Dataset()
        ds.Status = self.status
        if self.comment:
            ds.ErrorComment = self.comment[:64]  # LO
        return ds


class Refused(Exception):
    def __init__(self, code: int, comment: str):
        super().__init__(comment)
        self.code, self.comment = code, comment


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return str(value).strip() if value is not None else ""


def _moment(ds: Dataset, date_kw: str, time_kw: str) -> dt.datetime | None:
    """DA + TM in the facility's time zone; a malformed value is refused with 0x0106."""
    date_text, time_text = _text(ds, date_kw), _text(ds, time_kw)
    if not date_text:
        return None
    try:
        day = dt.datetime.strptime(date_text[:8], "%Y%m%d").date()
        digits = time_text.replace(":", "").split(".")[0]
        moment = dt.time(int(digits[0:2] or 0), int(digits[2:4] or 0), int(digits[4:6] or 0)) if digits else dt.time()
    except ValueError as exc:
        raise Refused(status.INVALID_ATTRIBUTE_VALUE, f"{date_kw}/Time is not valid") from exc
    return dt.datetime.combine(day, moment, tzinfo=timezone.get_current_timezone())


def _find_order(items: Any) -> Order | None:
    """The order a Scheduled Step Attributes Sequence item names: Study Instance
    UID (with the accession number when both are given), else the accession number."""
    for item in items:
        study, accession = _text(item, "StudyInstanceUID"), _text(item, "AccessionNumber")
        query = Q()
        if study:
            query &= Q(study_instance_uid=study)
        if accession:
            query &= Q(accession_number=accession)
        order = Order.objects.filter(query).first() if query else None
        if order is None and accession:
            order = Order.objects.filter(accession_number=accession).first()
        if order is not None:
            return order
    return None


def _series(ds: Dataset) -> list[dict[str, Any]]:
    series = []
    for item in ds.get("PerformedSeriesSequence", None) or []:
        series.append(
            {
                "series_instance_uid": _text(item, "SeriesInstanceUID"),
                "description": _text(item, "SeriesDescription"),
                "protocol": _text(item, "ProtocolName"),
                "images": len(item.get("ReferencedImageSequence", None) or []),
            }
        )
    return series


def _json(ds: Dataset) -> dict[str, Any]:
    try:
        return dict(ds.to_json_dict())
    except Exception:  # noqa: BLE001 - keeping the raw attributes is best effort
        return {}


def _advance(step: PerformedProcedureStep, at: dt.datetime | None) -> str:
    """Move the linked exam to what the step says; "" or why it could not."""
    order = step.order
    if order is None:
        return ""
    order.refresh_from_db()
    wanted = {
        PpsStatus.IN_PROGRESS: [ExamStatus.IN_PROGRESS],
        PpsStatus.COMPLETED: [ExamStatus.IN_PROGRESS, ExamStatus.COMPLETED],
        PpsStatus.DISCONTINUED: [ExamStatus.IN_PROGRESS, ExamStatus.DISCONTINUED],
    }[PpsStatus(step.status)]
    try:
        for target in wanted:
            if order.status == target:
                continue
            if target == ExamStatus.IN_PROGRESS and order.status in (ExamStatus.COMPLETED, ExamStatus.DISCONTINUED):
                continue
            reason = (
                (step.discontinuation_reason or DEFAULT_DISCONTINUATION) if target == ExamStatus.DISCONTINUED else ""
            )
            moment = (step.started_at if target == ExamStatus.IN_PROGRESS else step.ended_at) or at
            order = exam_transition(order=order, to=target, reason=reason, at=moment)
    except ApplicationError as exc:
        return exc.message
    return ""


def _audit(step: PerformedProcedureStep, operation: str, outcome: int, comment: str) -> None:
    audit_record(
        "mpps",
        object_type="dicom_gateway.PerformedProcedureStep",
        object_id=step.pk or "",
        patient_id=step.patient_id_value,
        ae_title=step.calling_ae_title,
        summary=f"{operation} {step.status} pps={step.pps_id} accession={step.accession_number} "
        f"order={'#' + str(step.order_id) if step.order_id else 'unmatched'} status=0x{outcome:04X} {comment}"[:300],
        after={"status": step.status, "order": step.order_id, "dicom_status": outcome},
    )


def _flag(step: PerformedProcedureStep, problem: str, *, from_edge: bool) -> int:
    """The exam could not follow the step (it was cancelled, say): the step is
    kept, linked and flagged for review. A modality hears 0x0110 and why; an
    edge node forwarding what its modality did hears success, since nothing it
    could send again would change that (docs/edge.md, "Conflicts")."""
    if not problem:
        return status.SUCCESS
    order = step.order
    where = step.performed_station_ae_title or step.calling_ae_title
    if where != step.calling_ae_title:
        where = f"{where} (via {step.calling_ae_title})"
    exam = f"The exam is {order.get_status_display().lower()} here" if order is not None else "The exam"
    step.review_reason = f"{exam}, but {where} reported it {step.status}: {problem}"[:200]
    step.save(update_fields=["review_reason", "updated_at"])
    return status.SUCCESS if from_edge else status.PROCESSING_FAILURE


def mpps_create(
    *, sop_instance_uid: str | None, attributes: Dataset, calling_ae: str, from_edge: bool = False
) -> Answer:
    """N-CREATE: a modality started an exam (or an edge node forwards one that did)."""
    missing = [kw for kw in CREATE_REQUIRED if not attributes.get(kw, None)]
    if missing:
        return Answer(status.MISSING_ATTRIBUTE, f"Missing {', '.join(missing)}")
    pps_status = _text(attributes, "PerformedProcedureStepStatus")
    if pps_status != PpsStatus.IN_PROGRESS:
        return Answer(status.INVALID_ATTRIBUTE_VALUE, f"PPS Status must be IN PROGRESS, not {pps_status!r}")
    items = attributes.ScheduledStepAttributesSequence
    if not all(_text(item, "StudyInstanceUID") for item in items):
        return Answer(status.MISSING_ATTRIBUTE, "Missing StudyInstanceUID in ScheduledStepAttributesSequence")
    try:
        started = _moment(attributes, "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime")
    except Refused as exc:
        return Answer(exc.code, exc.comment)
    uid = sop_instance_uid or generate_uid()
    first = items[0]
    step = PerformedProcedureStep(
        sop_instance_uid=uid,
        status=PpsStatus.IN_PROGRESS,
        order=_find_order(items),
        calling_ae_title=calling_ae[:16],
        performed_station_ae_title=_text(attributes, "PerformedStationAETitle")[:16],
        pps_id=_text(attributes, "PerformedProcedureStepID")[:16],
        patient_name=_text(attributes, "PatientName")[:200],
        patient_id_value=_text(attributes, "PatientID")[:64],
        accession_number=_text(first, "AccessionNumber")[:16],
        study_instance_uid=_text(first, "StudyInstanceUID")[:64],
        sps_id=_text(first, "ScheduledProcedureStepID")[:16],
        started_at=started,
        series=_series(attributes),
        attributes=_json(attributes),
    )
    try:
        with transaction.atomic():
            step.save()
            problem = _advance(step, started)
            code = _flag(step, problem, from_edge=from_edge)
            answer = Answer(code, problem[:64] if code else "", step=step)
            _audit(step, "N-CREATE", answer.status, problem)
    except IntegrityError:
        return Answer(status.DUPLICATE_SOP_INSTANCE, f"MPPS {uid} exists already")
    if problem:  # the step is kept (linked) for a user to sort out; the modality hears why
        logger.warning("MPPS %s from %s: exam not moved: %s", uid, calling_ae, problem)
    reply = Dataset()
    if not sop_instance_uid:
        reply.AffectedSOPInstanceUID = uid
    answer.dataset = reply if not sop_instance_uid else None
    return answer


def mpps_set(*, sop_instance_uid: str, modifications: Dataset, calling_ae: str, from_edge: bool = False) -> Answer:
    """N-SET: more series, or the end of the exam (COMPLETED / DISCONTINUED)."""
    with transaction.atomic():
        step = PerformedProcedureStep.objects.select_for_update().filter(sop_instance_uid=sop_instance_uid).first()
        if step is None:
            return Answer(status.NO_SUCH_SOP_INSTANCE, f"No MPPS {sop_instance_uid}")
        if step.status in FINAL:
            answer = Answer(status.PROCESSING_FAILURE, f"MPPS is {step.status}; it may no longer be updated")
            _audit(step, "N-SET", answer.status, "refused: final")
            return answer
        new_status = _text(modifications, "PerformedProcedureStepStatus") or step.status
        if new_status not in PpsStatus.values:
            return Answer(status.INVALID_ATTRIBUTE_VALUE, f"Unknown PPS Status {new_status!r}")
        try:
            ended = _moment(modifications, "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime")
        except Refused as exc:
            return Answer(exc.code, exc.comment)
        if new_status in FINAL and ended is None:
            return Answer(status.MISSING_ATTRIBUTE, f"{new_status} needs PerformedProcedureStepEndDate/Time")
        if "PerformedSeriesSequence" in modifications:
            step.series = _series(modifications)
        reasons = modifications.get("PerformedProcedureStepDiscontinuationReasonCodeSequence", None) or []
        if new_status == PpsStatus.DISCONTINUED:
            meaning = _text(reasons[0], "CodeMeaning") if reasons else ""
            step.discontinuation_reason = (meaning or DEFAULT_DISCONTINUATION)[:200]
        step.status, step.ended_at = new_status, ended or step.ended_at
        step.attributes = {**step.attributes, **_json(modifications)}
        step.save()
        problem = _advance(step, ended)
        code = _flag(step, problem, from_edge=from_edge)
        answer = Answer(code, problem[:64] if code else "", step=step)
        _audit(step, "N-SET", answer.status, problem)
    return answer


def mpps_link(*, step: PerformedProcedureStep, order: Order) -> str:
    """A user links an unmatched MPPS (an exam done at the scanner) to its order;
    the exam then follows the step. Returns why the exam could not follow ("" if it did)."""
    with transaction.atomic():
        locked = PerformedProcedureStep.objects.select_for_update().get(pk=step.pk)
        if locked.order_id is not None:
            raise ApplicationError("This MPPS is already linked to an order.", code="already_linked")
        locked.order, locked.stale = order, False
        locked.save()
        audit_record(
            "update",
            instance=locked,
            patient_id=locked.patient_id_value,
            summary=f"MPPS {locked.sop_instance_uid} linked to {order.accession_number}",
            before={"order": None},
            after={"order": order.pk},
        )
        problem = _advance(locked, timezone.now())
    step.order, step.stale = order, False
    return problem


def mpps_review_done(*, step: PerformedProcedureStep, note: str = "") -> None:
    """A user has sorted out a flagged step (an exam cancelled here but performed at an edge): the flag goes."""
    with transaction.atomic():
        locked = PerformedProcedureStep.objects.select_for_update().get(pk=step.pk)
        if not locked.review_reason:
            return
        before = locked.review_reason
        locked.review_reason = ""
        locked.save(update_fields=["review_reason", "updated_at"])
        audit_record(
            "update",
            instance=locked,
            patient_id=locked.patient_id_value,
            summary=f"MPPS {locked.sop_instance_uid} reviewed: {note}"[:300],
            before={"review_reason": before},
            after={"review_reason": ""},
        )
    step.review_reason = ""


def mpps_flag_stale(*, older_than: dt.timedelta) -> int:
    """Unmatched steps nobody linked within ``older_than``: flag them for review (idempotent)."""
    cutoff = timezone.now() - older_than
    return PerformedProcedureStep.objects.filter(order__isnull=True, stale=False, created_at__lt=cutoff).update(
        stale=True
    )
