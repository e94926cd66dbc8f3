"""The status message to the order placer (IHE RAD-3 style ORM^O01, ORC-1 = SC)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from hl7_interface.ack import escape, timestamp
from hl7_interface.models import Destination
from orders.models import Order
from scheduling.models import Appointment, AppointmentStatus

# Exam status → ORC-5 (HL7 table 0038) and ORC-25 order status modifier.
ORC5 = {
    "scheduled": "SC",
    "arrived": "SC",
    "in_progress": "IP",
    "completed": "CM",
    "cancelled": "CA",
    "discontinued": "DC",
    "no_show": "SC",
}
MODIFIER = {"arrived": "ARRIVED^Patient arrived^L", "no_show": "NOSHOW^Patient did not attend^L"}


def _dtm(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y%m%d%H%M%S%z") if value else ""


def status_message_text(*, order: Order, status: str, destination: Destination, control_id: str) -> str:
    patient, procedure = order.patient, order.procedure
    appointment = (
        Appointment.objects.filter(order=order, status=AppointmentStatus.ACTIVE).select_related("station").first()
    )
    starts = _dtm(appointment.starts_at) if appointment else ""
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            escape(settings.HL7_APPLICATION),
            escape(settings.HL7_FACILITY),
            escape(destination.receiving_application),
            escape(destination.receiving_facility),
            timestamp(),
            "",
            "ORM^O01^ORM_O01",
            control_id,
            "P",
            "2.5.1",
            "",
            "",
            "AL",
            "NE",
            "",
            "UNICODE UTF-8",
        ]
    )
    name = "^".join(escape(p) for p in (patient.family_name, patient.given_name, patient.middle_name)).rstrip("^")
    pid = "|".join(
        [
            "PID",
            "1",
            "",
            f"{escape(patient.patient_id)}^^^{escape(patient.issuer)}^MR",
            "",
            name,
            "",
            patient.birth_date.strftime("%Y%m%d") if patient.birth_date else "",
            patient.sex or "U",
        ]
    )
    orc = ["ORC", "SC", escape(order.placer_order_number), escape(order.accession_number), "", ORC5[status]]
    orc += ["", f"^^^{starts}" if starts else "", "", _dtm(timezone.now())]
    orc += [""] * 15 + [MODIFIER.get(status, "")]  # ORC-25
    obr = ["OBR", "1", escape(order.placer_order_number), escape(order.accession_number)]
    obr.append(f"{escape(procedure.code)}^{escape(procedure.name)}^{escape(procedure.coding_scheme)}")
    obr += [""] * 13  # OBR-5 … OBR-17
    obr += [escape(order.accession_number), escape(order.requested_procedure_id)]  # OBR-18/19, as IHE RAD-4
    obr += ["", "", "", "", "", escape(procedure.modality), ""]  # OBR-20 … OBR-26, OBR-24 = modality
    obr.append(f"^^^{starts}" if starts else "")  # OBR-27
    zds = f"ZDS|{escape(order.study_instance_uid)}^{escape(settings.HL7_APPLICATION)}^Application^DICOM"
    return "\r".join(["|".join(s) if isinstance(s, list) else s for s in (msh, pid, orc, obr, zds)]) + "\r"
