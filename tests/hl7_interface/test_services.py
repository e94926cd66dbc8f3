"""Applying HL7 messages: patients, orders, auto-scheduling, ACKs, the inbox."""

from __future__ import annotations

import pytest

from hl7_interface.inbox import message_receive, message_reprocess
from hl7_interface.models import InboundMessage, InboundStatus, ProcedureCodeMap
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order, Procedure
from patients.models import Patient, PatientMerge
from scheduling.booking import appointment_book
from scheduling.models import Appointment, AppointmentStatus, Station
from tests.conftest import at
from tests.hl7_interface.conftest import ack_code, ack_of, adt, orm, pid, segment
from worklist.models import WorklistItem

pytestmark = pytest.mark.django_db


def receive(text: str | bytes) -> bytes:
    return message_receive(raw=text if isinstance(text, bytes) else text.encode("utf-8"), peer="127.0.0.1:5000")


def test_an_a04_registers_the_patient_with_identifiers_and_phone() -> None:
    reply = receive(adt("A04", "C1"))
    assert ack_code(reply) == "AA"
    assert str(ack_of(reply).segment("MSA")(2)) == "C1"
    patient = Patient.objects.get(patient_id="MNH0100", issuer="MNH")
    assert (patient.family_name, patient.given_name, patient.middle_name) == ("Mollel", "Amani", "Joseph")
    assert str(patient.birth_date) == "1990-05-12"
    assert patient.sex == "M"
    assert patient.phone == "+255754111222"
    assert [(i.kind, i.value) for i in patient.identifiers.all()] == [("nhif", "NH123456")]
    row = InboundMessage.objects.get()
    assert (row.status, row.message_type, row.control_id, row.patient) == ("processed", "ADT^A04", "C1", patient)
    assert bytes(row.raw) == adt("A04", "C1").encode()


def test_a_year_only_birth_date_keeps_its_precision() -> None:
    receive(adt("A04", "C1", pid_segment=pid(birth="1961")))
    patient = Patient.objects.get()
    assert (str(patient.birth_date), patient.birth_date_precision) == ("1961-01-01", "year")


def test_an_a08_changes_the_name_on_the_worklist(ct_station: Station, ct_head: Procedure) -> None:
    receive(adt("A04", "C1"))
    assert ack_code(receive(orm("NW", "C2"))) == "AA"
    assert WorklistItem.objects.get().patient_name == "Mollel^Amani^Joseph"
    assert ack_code(receive(adt("A08", "C3", pid_segment=pid(family="Mollel-Shirima")))) == "AA"
    assert WorklistItem.objects.get().patient_name == "Mollel-Shirima^Amani^Joseph"


def test_an_order_with_a_requested_time_is_booked_on_the_only_station(ct_station: Station, ct_head: Procedure) -> None:
    reply = receive(orm("NW", "C2"))
    assert ack_code(reply) == "AA"
    order = Order.objects.get(placer_order_number="PLC1001")
    assert order.status == ExamStatus.SCHEDULED
    assert (order.reason, order.referring_physician, order.priority) == (
        "Headache for 3 days",
        "Kimaro^Neema",
        "routine",
    )
    appointment = Appointment.objects.get(order=order)
    assert (appointment.station, appointment.starts_at) == (ct_station, at(10))
    item = WorklistItem.objects.get(order=order)
    assert (item.accession_number, item.station_ae_title) == (order.accession_number, "CT_ROOM3")
    assert InboundMessage.objects.get().order == order


def test_a_taken_slot_leaves_the_order_for_a_scheduler_with_the_reason(
    ct_station: Station, ct_head: Procedure, make_order: object
) -> None:
    other = make_order()  # type: ignore[operator]
    appointment_book(order=other, station=ct_station, starts_at=at(10))
    assert ack_code(receive(orm("NW", "C2"))) == "AA"
    order = Order.objects.get(placer_order_number="PLC1001")
    assert order.status == ExamStatus.REQUESTED
    assert order.status_reason.startswith("Not booked automatically: CT Scanner · Room 3 is already booked")


def test_several_stations_of_the_modality_leave_it_unscheduled(ct_station: Station, ct_head: Procedure) -> None:
    Station.objects.create(name="CT 2", modality="CT", ae_title="CT_ROOM5")
    receive(orm("NW", "C2"))
    order = Order.objects.get()
    assert order.status == ExamStatus.REQUESTED
    assert "Several CT stations" in order.status_reason


def test_the_code_map_chooses_procedure_and_station(ct_station: Station, ct_head: Procedure) -> None:
    second = Station.objects.create(name="CT 2", modality="CT", ae_title="CT_ROOM5")
    ProcedureCodeMap.objects.create(code="70450", coding_system="C4", procedure=ct_head, station=second)
    text = orm("NW", "C2").replace("CTHEAD^CT Head^RIS", "70450^CT HEAD W/O CONTRAST^C4")
    assert ack_code(receive(text)) == "AA"
    assert Appointment.objects.get().station == second


def test_an_unknown_procedure_code_is_held_and_can_be_reprocessed_after_mapping(
    ct_station: Station, ct_head: Procedure
) -> None:
    text = orm("NW", "C2").replace("CTHEAD^CT Head^RIS", "XYZ99^Mystery scan^LOCAL")
    reply = receive(text)
    assert ack_code(reply) == "AE"
    err = ack_of(reply).segment("ERR")
    assert str(err(3)).startswith("103^")
    assert "XYZ99" in str(err(8))
    row = InboundMessage.objects.get()
    assert row.status == InboundStatus.ERROR
    assert "XYZ99" in row.error
    assert not Order.objects.exists()
    assert Patient.objects.count() == 0

    ProcedureCodeMap.objects.create(code="XYZ99", coding_system="LOCAL", procedure=ct_head)
    row = message_reprocess(message=row)
    assert row.status == InboundStatus.PROCESSED
    assert row.attempts == 2
    assert Order.objects.get().status == ExamStatus.SCHEDULED


def test_a_corrected_text_is_reprocessed_and_the_raw_bytes_stay(ct_station: Station, ct_head: Procedure) -> None:
    bad = orm("NW", "C2", when="20261341100000")
    assert ack_code(receive(bad)) == "AE"
    row = InboundMessage.objects.get()
    assert "ORC-7.4" in row.error
    assert "not a valid HL7 date/time" in row.error
    message_reprocess(message=row, text=bad.replace("20261341100000", "20261201100000"))
    row.refresh_from_db()
    assert row.status == InboundStatus.PROCESSED
    assert bytes(row.raw) == bad.encode()


def test_the_same_control_id_is_processed_once_and_acked_identically(ct_station: Station, ct_head: Procedure) -> None:
    first = receive(orm("NW", "C2"))
    again = receive(orm("NW", "C2"))
    assert first == again
    assert Order.objects.count() == 1
    statuses = sorted(InboundMessage.objects.values_list("status", flat=True))
    assert statuses == ["duplicate", "processed"]
    # the same control ID from another sender is another message
    assert ack_code(receive(orm("NW", "C2", placer="PLC2002", sender="OTHERHIS"))) == "AA"
    assert Order.objects.count() == 2


def test_a_message_stored_but_never_finished_is_processed_when_resent(ct_station: Station, ct_head: Procedure) -> None:
    raw = orm("NW", "C2").encode()
    InboundMessage.objects.create(raw=raw, text=raw.decode(), sender="HIS_APP|HIS", control_id="C2")
    assert ack_code(receive(raw)) == "AA"
    assert InboundMessage.objects.get().status == InboundStatus.PROCESSED
    assert Order.objects.count() == 1


def test_cancel_takes_the_order_off_the_worklist(ct_station: Station, ct_head: Procedure) -> None:
    receive(orm("NW", "C2"))
    reply = receive(orm("CA", "C3", orc_extra={16: "^Patient transferred"}))
    assert ack_code(reply) == "AA"
    order = Order.objects.get()
    assert (order.status, order.status_reason) == (ExamStatus.CANCELLED, "Patient transferred")
    assert not WorklistItem.objects.filter(order=order).exists()
    assert Appointment.objects.get().status == AppointmentStatus.CANCELLED


def test_discontinue_of_a_started_exam_discontinues_it(ct_station: Station, ct_head: Procedure) -> None:
    receive(orm("NW", "C2"))
    order = Order.objects.get()
    exam_transition(order=order, to=ExamStatus.IN_PROGRESS)
    assert ack_code(receive(orm("DC", "C3"))) == "AA"
    order.refresh_from_db()
    assert order.status == ExamStatus.DISCONTINUED


def test_cancel_of_a_completed_exam_is_an_application_error(ct_station: Station, ct_head: Procedure) -> None:
    receive(orm("NW", "C2"))
    order = Order.objects.get()
    exam_transition(order=order, to=ExamStatus.IN_PROGRESS)
    exam_transition(order=order, to=ExamStatus.COMPLETED)
    reply = receive(orm("CA", "C3"))
    assert ack_code(reply) == "AE"
    assert "cannot become cancelled" in str(ack_of(reply).segment("ERR")(8))


def test_a_change_moves_the_appointment(ct_station: Station, ct_head: Procedure) -> None:
    receive(orm("NW", "C2"))
    assert ack_code(receive(orm("XO", "C3", when="20261201140000", reason="Worse headache"))) == "AA"
    order = Order.objects.get()
    assert order.reason == "Worse headache"
    assert Appointment.objects.get(status=AppointmentStatus.ACTIVE).starts_at == at(14)


def test_cancel_of_an_unknown_order_is_an_error_naming_the_key() -> None:
    reply = receive(orm("CA", "C3", placer="NOPE"))
    assert ack_code(reply) == "AE"
    assert str(ack_of(reply).segment("ERR")(3)).startswith("204^")


def test_a_second_new_order_with_the_same_placer_number_is_refused(ct_station: Station, ct_head: Procedure) -> None:
    receive(orm("NW", "C2"))
    reply = receive(orm("NW", "C3"))
    assert ack_code(reply) == "AE"
    assert str(ack_of(reply).segment("ERR")(3)).startswith("205^")


def test_a40_merges_the_prior_patient_and_moves_the_orders(ct_station: Station, ct_head: Procedure) -> None:
    receive(orm("NW", "C1", pid_segment=pid("TMP77", "Mollel", "Amani", nhif="")))
    receive(adt("A04", "C2"))
    merge = adt("A40", "C3", extra=(segment("MRG", {1: "TMP77^^^MNH^MR"}),))
    assert ack_code(receive(merge)) == "AA"
    survivor = Patient.objects.get(patient_id="MNH0100")
    assert Order.objects.get().patient == survivor
    assert PatientMerge.objects.get().merged_via == "hl7"
    assert WorklistItem.objects.get().patient_id == "MNH0100"
    # an order for the old ID now lands on the survivor
    receive(orm("NW", "C4", placer="PLC2", when="", pid_segment=pid("TMP77", "Mollel", "Amani", nhif="")))
    assert Order.objects.get(placer_order_number="PLC2").patient == survivor


def test_latin_1_names_decode_by_msh_18(ct_head: Procedure) -> None:
    text = adt("A04", "C1", charset="8859/1", pid_segment=pid(family="Müller", given="José"))
    reply = message_receive(raw=text.encode("latin-1"), peer="p")
    assert ack_code(reply) == "AA"
    assert Patient.objects.get().family_name == "Müller"
    assert InboundMessage.objects.get().charset == "8859/1"


@pytest.mark.parametrize(
    ("raw", "code", "error"),
    [
        (b"HELLO|this is not hl7\r", "100^", "does not begin with an MSH"),
        (adt("A04", "C1").replace("^~\\&", "^~").encode(), "102^", "encoding characters"),
        (adt("A04", "C1").replace("ADT^A04^ADT_A01", "ORU^R01").encode(), "200^", "ORU is not supported"),
        (adt("A04", "C1").replace("ADT^A04^ADT_A01", "ADT^A99").encode(), "201^", "ADT^A99 is not supported"),
        (adt("A04", "C1", version="2.2").encode(), "203^", "version 2.2"),
        (adt("A04", "C1").replace("|C1|", "||").encode(), "101^", "MSH-10"),
        (
            adt("A04", "C1", charset="UNICODE UTF-8", pid_segment=pid(family="M\xfcller")).encode("latin-1"),
            "102^",
            "valid",
        ),
    ],
)
def test_unreadable_or_unsupported_messages_get_ar_and_are_kept(raw: bytes, code: str, error: str) -> None:
    reply = receive(raw)
    assert ack_code(reply) == "AR"
    assert str(ack_of(reply).segment("ERR")(3)).startswith(code)
    row = InboundMessage.objects.get()
    assert row.status == InboundStatus.REJECTED
    assert error in row.error
    assert bytes(row.raw) == raw


def test_an_invalid_birth_date_is_an_application_error() -> None:
    reply = receive(adt("A04", "C1", pid_segment=pid(birth="19901332")))
    assert ack_code(reply) == "AE"
    assert str(ack_of(reply).segment("ERR")(2)) == "PID^1^7"
    assert not Patient.objects.exists()


def test_omi_o23_takes_time_and_priority_from_tq1(ct_station: Station, ct_head: Procedure) -> None:
    text = orm("NW", "C1", when="").replace("ORM^O01^ORM_O01", "OMI^O23^OMI_O23")
    tq1 = segment("TQ1", {1: "1", 7: "20261201113000", 9: "S"})
    assert ack_code(receive(text + tq1 + "\r")) == "AA"
    order = Order.objects.get()
    assert order.priority == "stat"
    assert Appointment.objects.get().starts_at == at(11, 30)


def test_the_configured_placer_field_names_the_station(
    ct_station: Station, ct_head: Procedure, settings: object
) -> None:
    settings.HL7_STATION_FIELD = "OBR-18"  # type: ignore[attr-defined]
    second = Station.objects.create(name="CT 2", modality="CT", ae_title="CT_ROOM5")
    text = orm("NW", "C1").replace("|Headache for 3 days", "|Headache for 3 days|||||CT_ROOM5")
    assert ack_code(receive(text)) == "AA"
    assert Appointment.objects.get().station == second


def test_utf_8_names_decode_by_msh_18(ct_head: Procedure) -> None:
    text = adt("A04", "C1", charset="UNICODE UTF-8", pid_segment=pid(family="Ng\u02bcwandu", given="Zuhura"))
    assert ack_code(message_receive(raw=text.encode("utf-8"), peer="p")) == "AA"
    assert Patient.objects.get().family_name == "Ng\u02bcwandu"


def test_orders_not_booked_wait_in_the_schedulers_queue_stat_first(
    api_as: object, scheduler: object, ct_station: Station, ct_head: Procedure
) -> None:
    Station.objects.create(name="CT 2", modality="CT", ae_title="CT_ROOM5")  # ambiguous: not auto-booked
    receive(orm("NW", "C1", placer="R1"))
    receive(orm("NW", "C2", placer="S1", orc_extra={7: "^^^20261201100000^^S"}))
    receive(orm("NW", "C3", placer="U1", orc_extra={7: "^^^20261201100000^^A"}))
    queue = api_as(scheduler).get("/api/v1/orders/unscheduled/").json()["results"]  # type: ignore[operator]
    assert [o["placer_order_number"] for o in queue] == ["S1", "U1", "R1"]
    assert queue[0]["status_reason"] == "Not booked automatically: Several CT stations: a scheduler chooses one."
