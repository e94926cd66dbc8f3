"""The web pages through Django's test client: permissions, forms and their
errors, booking and its conflicts, the day list actions, the slip's language."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order
from patients.models import Patient
from patients.services import patient_create
from scheduling.booking import appointment_book
from scheduling.models import Appointment, AppointmentStatus, Station
from scheduling.stations import closure_create, station_create
from tests.conftest import at

pytestmark = pytest.mark.django_db


def browser(user: User | None, language: str = "en") -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    client.cookies["django_language"] = language
    return client


def test_every_page_needs_a_login(order: Order) -> None:
    for url in ["/dashboard/", "/patients/", "/daylist/", "/calendar/CT/", f"/orders/{order.pk}/book/", "/stations/"]:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_a_technologist_may_not_register_patients_order_or_book(
    technologist: User, order: Order, ct_station: Station
) -> None:
    client = browser(technologist)
    assert client.get("/patients/new/").status_code == 403
    assert client.post("/patients/new/", {"family_name": "X"}).status_code == 403
    assert client.get(f"/patients/{order.patient_id}/orders/new/").status_code == 403
    response = client.post(
        f"/orders/{order.pk}/book/confirm/", {"station": ct_station.pk, "starts_at": "2026-12-01 09:00"}
    )
    assert response.status_code == 403
    assert not Appointment.objects.exists()
    assert "Your role does not allow" in client.get("/patients/new/").content.decode()


def test_a_radiologist_reads_but_cannot_move_an_exam(radiologist: User, appointment: Appointment) -> None:
    client = browser(radiologist)
    page = client.get(f"/daylist/?station={appointment.station_id}")
    assert page.status_code == 200
    assert appointment.order.accession_number in page.content.decode()
    assert 'value="arrived"' not in page.content.decode()  # no action buttons
    response = client.post(f"/orders/{appointment.order_id}/transition/", {"to": "arrived"})
    assert response.status_code == 403
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.SCHEDULED


def test_only_an_admin_records_downtime(scheduler: User, admin_user: User, ct_station: Station) -> None:
    form = {"starts_at": "2026-12-02T08:00", "ends_at": "2026-12-02T12:00", "reason": "Tube replacement"}
    assert browser(scheduler).post(f"/stations/{ct_station.pk}/", form).status_code == 403
    response = browser(admin_user).post(f"/stations/{ct_station.pk}/", form)
    assert response.status_code == 302
    closure = ct_station.closures.get()
    assert closure.reason == "Tube replacement"
    assert closure.starts_at == at(8, day=2)


def test_registration_shows_each_field_error_and_keeps_the_input(scheduler: User) -> None:
    response = browser(scheduler).post(
        "/patients/new/",
        {"family_name": "", "given_name": "Rehema", "phone": "12345", "language": "sw", "birth_date_precision": "day"},
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert "family_name" in form.errors
    assert 'value="Rehema"' in response.content.decode()
    assert not Patient.objects.exists()


def test_a_future_birth_date_is_refused_on_its_field_and_sex_has_one_empty_choice(scheduler: User) -> None:
    client = browser(scheduler)
    page = client.get("/patients/new/").content.decode()
    assert page.count('<option value=""') == 1
    response = client.post(
        "/patients/new/",
        {"family_name": "Mushi", "birth_date": "2030-05-05", "language": "sw", "birth_date_precision": "day"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["birth_date"] == ["The birth date cannot be in the future."]
    assert not Patient.objects.exists()


def test_a_bad_phone_number_is_reported_on_the_phone_field(scheduler: User) -> None:
    response = browser(scheduler).post(
        "/patients/new/",
        {"family_name": "Mushi", "phone": "0712 34", "language": "sw", "birth_date_precision": "day"},
    )
    assert response.status_code == 400
    assert "phone" in response.context["form"].errors
    assert not Patient.objects.exists()


def test_registration_creates_the_patient_with_the_nhif_number(scheduler: User) -> None:
    response = browser(scheduler).post(
        "/patients/new/",
        {
            "family_name": "Mushi",
            "given_name": "Rehema",
            "sex": "F",
            "phone": "0754 111 222",
            "nhif_number": "123456789012",
            "language": "sw",
            "birth_date_precision": "day",
        },
    )
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"
    assert patient.phone == "+255754111222"
    assert patient.patient_id.startswith("RIS")
    assert patient.identifiers.get().value == "123456789012"


def test_patient_search_answers_htmx_with_the_rows_only(scheduler: User, patient: Patient) -> None:
    client = browser(scheduler)
    partial = client.get("/patients/?q=neema mwak", HTTP_HX_REQUEST="true").content.decode()
    assert "Mwakyusa".upper() in partial
    assert "<html" not in partial
    assert "MWAKYUSA" in client.get("/patients/?q=0712345678").content.decode()
    assert "No patient found" in client.get("/patients/?q=nobody").content.decode()


def test_a_search_with_a_nul_character_is_refused_with_400_not_a_server_error(
    scheduler: User, patient: Patient
) -> None:
    client = browser(scheduler)
    for htmx in (False, True):
        response = client.get("/patients/?q=%00", HTTP_HX_REQUEST="true") if htmx else client.get("/patients/?q=%00")
        assert response.status_code == 400
        assert "Null characters are not allowed" in response.content.decode()


def test_an_order_is_created_and_leads_to_its_booking_page(scheduler: User, patient: Patient, ct_head: Any) -> None:
    response = browser(scheduler).post(
        f"/patients/{patient.pk}/orders/new/",
        {"procedure": ct_head.pk, "priority": "urgent", "referring_physician": "Dr Kimaro", "reason": "Headache"},
    )
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.pk}/book/"
    assert (order.priority, order.status, order.created_by) == ("urgent", ExamStatus.REQUESTED, scheduler)


def test_allergies_pregnancy_and_comments_entered_at_the_desk_reach_the_scanner(
    scheduler: User, patient: Patient, ct_head: Any, ct_station: Station
) -> None:
    """What the technologist must know before scanning is typed once at the front
    desk and is on the worklist item the scanner reads (and on the patient page)."""
    client = browser(scheduler)
    edit = {
        "family_name": patient.family_name,
        "given_name": patient.given_name,
        "sex": "F",
        "language": "sw",
        "allergies": "IODINE CONTRAST",
        "medical_alerts": "DIABETIC",
    }
    assert client.post(f"/patients/{patient.pk}/edit/", edit).status_code == 302
    assert "IODINE CONTRAST" in client.get(f"/patients/{patient.pk}/").content.decode()
    order_page = client.get(f"/patients/{patient.pk}/orders/new/").content.decode()
    assert "IODINE CONTRAST" in order_page  # the scheduler sees it while choosing the exam
    assert 'name="pregnancy_status"' in order_page
    man = patient_create(patient_id="MNH0999", family_name="Juma", given_name="Ali", sex="M")
    assert 'name="pregnancy_status"' not in client.get(f"/patients/{man.pk}/orders/new/").content.decode()
    client.post(
        f"/patients/{patient.pk}/orders/new/",
        {"procedure": ct_head.pk, "priority": "routine", "pregnancy_status": "2", "comments": "Bring old films"},
    )
    order = Order.objects.get()
    assert (order.pregnancy_status, order.comments) == (2, "Bring old films")
    appointment_book(order=order, station=ct_station, starts_at=at(9))
    served = order.worklist_item.attributes
    assert served["Allergies"] == "IODINE CONTRAST"
    assert served["MedicalAlerts"] == "DIABETIC"
    assert served["PregnancyStatus"] == 2
    assert served["RequestedProcedureComments"] == "Bring old films"


def test_an_order_without_an_examination_is_refused_on_that_field(scheduler: User, patient: Patient) -> None:
    response = browser(scheduler).post(f"/patients/{patient.pk}/orders/new/", {"priority": "routine"})
    assert response.status_code == 400
    assert "procedure" in response.context["form"].errors
    assert not Order.objects.exists()


def test_the_booking_page_offers_exactly_the_slots_where_the_exam_fits(
    scheduler: User, appointment: Appointment, make_order: Any
) -> None:
    # CT_ROOM3 opens 08:00; 09:00-09:30 is taken; the new exam lasts 30 minutes; it is 07:00.
    order = make_order()
    page = browser(scheduler).get(f"/orders/{order.pk}/book/?date=2026-12-01")
    grid = page.context["grid"]
    bookable = [f"{c.start.astimezone(at(0).tzinfo):%H:%M}" for _t, row in grid.table for c in row if c and c.bookable]
    assert bookable[:6] == ["08:00", "08:15", "08:30", "09:30", "09:45", "10:00"]
    assert bookable[-1] == "16:30"
    suggestions = page.context["suggestions"]
    assert [f"{s[1].astimezone(at(0).tzinfo):%H:%M}" for s in suggestions[:4]] == ["08:00", "08:15", "08:30", "09:30"]


def test_booking_a_taken_slot_names_the_appointment_that_holds_it(
    scheduler: User, appointment: Appointment, make_order: Any
) -> None:
    order = make_order()
    client = browser(scheduler)
    form = {"station": appointment.station_id, "starts_at": "2026-12-01 09:15"}
    response = client.post(f"/orders/{order.pk}/book/confirm/", form)
    assert response.status_code == 409
    text = response.content.decode()
    assert "Not booked: the slot is taken." in text
    assert appointment.order.accession_number in text
    order.refresh_from_db()
    assert order.status == ExamStatus.REQUESTED
    ok = client.post(f"/orders/{order.pk}/book/confirm/", {**form, "starts_at": "2026-12-01 09:30"})
    assert ok.status_code == 302
    booked = Appointment.objects.get(order=order)
    assert ok["Location"] == f"/appointments/{booked.pk}/"
    assert booked.starts_at == at(9, 30)


def test_booking_outside_opening_hours_is_refused_with_the_reason(
    scheduler: User, make_order: Any, ct_station: Station
) -> None:
    order = make_order()
    response = browser(scheduler).post(
        f"/orders/{order.pk}/book/confirm/", {"station": ct_station.pk, "starts_at": "2026-12-01 18:00"}
    )
    assert response.status_code == 400
    assert "opening hours" in response.content.decode()
    assert not Appointment.objects.filter(order=order).exists()


def test_a_refusal_names_the_day_in_the_pages_language_day_month_year(
    scheduler: User, make_order: Any, ct_station: Station
) -> None:
    order = make_order()
    response = browser(scheduler, "sw").post(
        f"/orders/{order.pk}/book/confirm/", {"station": ct_station.pk, "starts_at": "2026-12-01 18:00"}
    )
    page = response.content.decode()
    assert "Nje ya saa za kazi za kituo, Jumanne 1 Disemba 2026" in page
    assert "Tuesday" not in page
    assert "2026-12-01" not in page.split("<main", 1)[-1].split("<form", 1)[0]


def test_reschedule_moves_the_appointment_and_keeps_the_reason(scheduler: User, appointment: Appointment) -> None:
    response = browser(scheduler).post(
        f"/appointments/{appointment.pk}/reschedule/",
        {"station": appointment.station_id, "starts_at": "2026-12-02 10:00", "reason": "Patient asked"},
    )
    appointment.refresh_from_db()
    assert response.status_code == 302
    assert appointment.status == AppointmentStatus.RESCHEDULED
    assert appointment.cancel_reason == "Patient asked"
    assert appointment.replaced_by is not None
    assert appointment.replaced_by.starts_at == at(10, day=2)


def test_cancel_needs_a_reason_and_frees_the_slot(scheduler: User, appointment: Appointment) -> None:
    client = browser(scheduler)
    refused = client.post(f"/appointments/{appointment.pk}/cancel/", {"reason": ""})
    assert refused.status_code == 400
    assert "reason" in refused.context["cancel_form"].errors
    done = client.post(f"/appointments/{appointment.pk}/cancel/", {"reason": "Referring doctor cancelled"})
    appointment.refresh_from_db()
    assert done.status_code == 302
    assert appointment.status == AppointmentStatus.CANCELLED


def test_day_list_actions_return_the_updated_list_with_its_summary(
    technologist: User, appointment: Appointment
) -> None:
    client = browser(technologist)
    query = f"station={appointment.station_id}&date=2026-12-01"
    page = client.get(f"/daylist/?{query}").content.decode()
    url = f"/orders/{appointment.order_id}/transition/"
    body = client.post(url, {"to": "arrived", "query": query}, HTTP_HX_REQUEST="true").content.decode()
    assert body.startswith('<tbody id="daylist-rows"')  # the whole list: rows re-sorted, summary recounted
    assert "1 waiting" in body
    row = body.split(f'id="exam-{appointment.order_id}"')[1].split("</tr>")[0]
    before = page.split(f'id="exam-{appointment.order_id}"')[1].split("</tr>")[0]
    assert row.count("<td") == before.count("<td")  # the swapped row keeps the table's columns
    assert "Arrived" in row
    assert 'value="in_progress"' in row
    assert 'value="arrived"' not in row
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.ARRIVED
    assert appointment.order.arrived_at is not None


def test_an_impossible_step_shows_the_refusal_in_the_row_and_changes_nothing(
    technologist: User, appointment: Appointment
) -> None:
    client = browser(technologist)
    row = client.post(
        f"/orders/{appointment.order_id}/transition/", {"to": "completed"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "cannot become completed" in row
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.SCHEDULED


def test_discontinuing_needs_a_reason(technologist: User, appointment: Appointment) -> None:
    exam_transition(order=appointment.order, to=ExamStatus.IN_PROGRESS)
    client = browser(technologist)
    url = f"/orders/{appointment.order_id}/transition/"
    row = client.post(url, {"to": "discontinued"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Give a reason" in row
    client.post(url, {"to": "discontinued", "reason": "Patient unwell"}, HTTP_HX_REQUEST="true")
    appointment.order.refresh_from_db()
    assert (appointment.order.status, appointment.order.status_reason) == (ExamStatus.DISCONTINUED, "Patient unwell")


def test_the_day_list_polls_for_its_rows(technologist: User, appointment: Appointment) -> None:
    client = browser(technologist)
    page = client.get(f"/daylist/?station={appointment.station_id}").content.decode()
    assert 'hx-trigger="every 10s' in page
    exam_transition(order=appointment.order, to=ExamStatus.ARRIVED)  # from elsewhere (MPPS, another console)
    rows = client.get(f"/daylist/rows/?station={appointment.station_id}").content.decode()
    assert "<html" not in rows
    assert "Arrived" in rows
    assert "waiting 0 min" in rows


def test_the_slip_is_in_the_patients_language(scheduler: User, appointment: Appointment) -> None:
    procedure = appointment.order.procedure
    procedure.preparation = "Do not eat for 6 hours."
    procedure.preparation_sw = "Usile kwa saa 6."
    procedure.save()
    patient = appointment.order.patient
    patient.language = "sw"
    patient.save()
    english_user = browser(scheduler, language="en")
    slip = english_user.get(f"/appointments/{appointment.pk}/slip/").content.decode()
    assert "Kadi ya miadi" in slip
    assert "Usile kwa saa 6." in slip
    assert "Jumanne" in slip  # Tuesday 1 December
    patient.language = "en"
    patient.save()
    slip = english_user.get(f"/appointments/{appointment.pk}/slip/").content.decode()
    assert "Appointment slip" in slip
    assert "Do not eat for 6 hours." in slip


def test_pages_follow_the_chosen_language(scheduler: User, appointment: Appointment) -> None:
    page = browser(scheduler, language="sw").get("/dashboard/").content.decode()
    assert 'lang="sw"' in page
    assert "Muhtasari" in page
    assert "Dashboard" not in page


def test_the_dashboard_counts_today_per_modality(scheduler: User, appointment: Appointment, make_order: Any) -> None:
    exam_transition(order=appointment.order, to=ExamStatus.ARRIVED, at=at(8, 50))
    exam_transition(order=appointment.order, to=ExamStatus.IN_PROGRESS, at=at(9, 10))
    exam_transition(order=appointment.order, to=ExamStatus.COMPLETED, at=at(9, 30))
    second = make_order()
    appointment_book(order=second, station=appointment.station, starts_at=at(10))
    exam_transition(order=second, to=ExamStatus.ARRIVED, at=at(6, 45))
    page = browser(scheduler).get("/dashboard/")
    ((label, ct),) = page.context["summaries"]
    assert label == "Computed tomography"
    assert (ct.booked, ct.waiting, ct.done, ct.no_show) == (2, 1, 1, 0)
    assert ct.average_wait == 20
    assert ct.longest_current_wait == 15  # arrived 06:45, it is 07:00


def test_downtime_lists_the_hit_appointments_and_moves_them(
    scheduler: User, appointment: Appointment, ct_station: Station
) -> None:
    spare = station_create(name="CT 2", modality="CT", ae_title="CT_ROOM9")
    closure = closure_create(station=ct_station, starts_at=at(8), ends_at=at(13), reason="Tube failure")
    client = browser(scheduler)
    page = client.get(f"/closures/{closure.pk}/")
    assert [a.pk for a in page.context["affected"]] == [appointment.pk]
    moved = client.post(f"/closures/{closure.pk}/")
    (result,) = moved.context["results"]
    assert result.new is not None
    # the earliest free slot of a CT station: the spare scanner (open around the clock) right away
    assert (result.new.station, result.new.starts_at) == (spare, at(9))
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.RESCHEDULED
    assert moved.context["affected"] == []


def test_the_modality_view_shows_what_the_gateway_serves(technologist: User, appointment: Appointment) -> None:
    page = browser(technologist).get(f"/stations/{appointment.station_id}/worklist/")
    served = page.context["served"]
    assert [s.item.accession_number for s in served] == [appointment.order.accession_number]
    assert served[0].name_as_sent == "Mwakyusa^Neema^Joseph"
    exam_transition(order=appointment.order, to=ExamStatus.CANCELLED, reason="x")
    assert browser(technologist).get(f"/stations/{appointment.station_id}/worklist/").context["served"] == []


def test_a_past_appointment_is_not_offered(scheduler: User, make_order: Any, ct_station: Station) -> None:
    order = make_order()
    page = browser(scheduler).get(f"/orders/{order.pk}/book/?date=2026-11-30")
    assert not [c for _t, row in page.context["grid"].table for c in row if c and c.bookable]
    assert all(s[1] >= at(7) for s in page.context["suggestions"])
    assert page.context["suggestions"][0][1] - at(8) < dt.timedelta(minutes=1)


def test_a_plain_form_post_goes_back_to_the_day_list_but_never_off_site(
    technologist: User, appointment: Appointment
) -> None:
    client = browser(technologist)
    url = f"/orders/{appointment.order_id}/transition/"
    back = client.post(url, {"to": "arrived", "next": f"/daylist/?station={appointment.station_id}"})
    assert back["Location"] == f"/daylist/?station={appointment.station_id}"
    away = client.post(url, {"to": "in_progress", "next": "https://evil.example/"})
    assert away["Location"] == "/daylist/"


def test_the_audit_trail_is_for_admins_and_searchable_by_patient(
    scheduler: User, admin_user: User, appointment: Appointment, make_order: Any
) -> None:
    assert browser(scheduler).get("/audit/").status_code == 403
    other = make_order(patient=patient_create(family_name="Other"))
    page = browser(admin_user).get(f"/audit/?patient={appointment.order.patient.patient_id}")
    records = list(page.context["page"])
    assert records
    assert {r.patient_id for r in records} == {appointment.order.patient.patient_id}
    assert other.patient.patient_id not in page.content.decode()


def test_the_audit_export_is_json_lines_that_verify(admin_user: User, appointment: Appointment) -> None:
    import json

    from audit.services import audit_seal, record_hash

    audit_seal()
    response = browser(admin_user).get("/audit/export/?action=status")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]  # type: ignore[attr-defined]
    assert lines
    assert {row["action"] for row in lines} == {"status"}
    assert all(record_hash(row) == row["hash"] for row in lines)


def test_an_unmatched_mpps_is_listed_and_linked_from_the_page(technologist: User, appointment: Appointment) -> None:
    from dicom_gateway.models import PerformedProcedureStep, PpsStatus

    step = PerformedProcedureStep.objects.create(
        sop_instance_uid="1.2.3.9", status=PpsStatus.IN_PROGRESS, calling_ae_title="CT_ROOM3", accession_number="X1"
    )
    client = browser(technologist)
    assert step in client.get("/mpps/").context["steps"]
    missing = client.post(f"/mpps/{step.pk}/link/", {"accession_number": "NOPE"}, follow=True)
    assert "No order has accession number NOPE" in missing.content.decode()
    client.post(f"/mpps/{step.pk}/link/", {"accession_number": appointment.order.accession_number})
    step.refresh_from_db()
    appointment.order.refresh_from_db()
    assert step.order == appointment.order
    assert appointment.order.status == ExamStatus.IN_PROGRESS


def test_a_change_made_on_a_page_is_audited_as_that_user_from_the_web(
    technologist: User, appointment: Appointment
) -> None:
    from audit.models import AuditRecord

    browser(technologist).post(
        f"/orders/{appointment.order_id}/transition/", {"to": "arrived"}, REMOTE_ADDR="192.168.1.20"
    )
    record = AuditRecord.objects.get(action="status", after__status="arrived")
    assert (record.interface, record.actor, record.role, record.ip) == ("web", "techy", "technologist", "192.168.1.20")


def test_logins_logouts_and_failed_logins_are_audited(scheduler: User) -> None:
    from audit.models import AuditRecord

    client = Client(REMOTE_ADDR="10.1.1.5")
    client.post("/accounts/login/", {"username": "sched", "password": "wrong"})
    client.post("/accounts/login/", {"username": "sched", "password": "x-test-password"})
    client.post("/accounts/logout/")
    actions = list(
        AuditRecord.objects.filter(action__in=["login", "logout", "login-failed"])
        .order_by("id")
        .values_list("action", "actor", "ip")
    )
    assert actions == [
        ("login-failed", "sched", "10.1.1.5"),
        ("login", "sched", "10.1.1.5"),
        ("logout", "sched", "10.1.1.5"),
    ]


@pytest.mark.parametrize("language", ["en", "sw"])
def test_staff_pages_write_dates_day_month_year_and_the_24_hour_clock(
    scheduler: User, patient: Patient, order: Order, frozen_clock: Any, language: str
) -> None:
    import datetime as dt

    Patient.objects.filter(pk=patient.pk).update(birth_date=dt.date(1948, 2, 25))
    client = browser(scheduler, language)
    results = client.get(f"/patients/?q={patient.patient_id}").content.decode()
    assert "25/02/1948" in results
    assert "02/25/1948" not in results
    Order.objects.filter(pk=order.pk).update(created_at=at(12))  # noon: "12:00", never "noon" or "mchana"
    queue = client.get("/orders/queue/").content.decode()
    assert "01/12/2026 12:00" in queue
    for american in ("p.m", "a.m", "noon", "mchana", "Dec. 1", "12/01/2026"):
        assert american not in queue


def test_every_aria_describedby_on_the_patient_form_names_an_element_there(scheduler: User) -> None:
    import re

    page = browser(scheduler).get("/patients/new/").content.decode()
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    described = [ref for refs in re.findall(r'aria-describedby="([^"]+)"', page) for ref in refs.split()]
    assert described, "the form's help texts are tied to their fields"
    assert [ref for ref in described if ref not in ids] == []


def test_a_scheduler_corrects_a_patient_and_the_worklist_follows(scheduler: User, appointment: Appointment) -> None:
    from audit.models import AuditRecord
    from worklist.models import WorklistItem

    patient = appointment.order.patient
    client = browser(scheduler)
    detail = client.get(f"/patients/{patient.pk}/").content.decode()
    assert f'href="/patients/{patient.pk}/edit/"' in detail
    form = client.get(f"/patients/{patient.pk}/edit/")
    assert form.status_code == 200
    assert 'name="patient_id"' not in form.content.decode()  # other systems know the patient by it
    response = client.post(
        f"/patients/{patient.pk}/edit/",
        {
            "family_name": "Mbwambo",
            "given_name": "Neema",
            "sex": "F",
            "birth_date": "1985-03-14",
            "birth_date_precision": "day",
            "phone": "+254 712 345 678",
            "nhif_number": "999888777666",
            "language": "sw",
        },
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.given_name, patient.phone) == ("Neema", "+254712345678")
    assert [i.value for i in patient.identifiers.filter(kind="nhif")] == ["999888777666"]  # replaced, not added
    assert WorklistItem.objects.get(order=appointment.order).patient_name == "Mbwambo^Neema"
    assert AuditRecord.objects.filter(object_type="patients.Patient", action="update").exists()


def test_an_invalid_correction_shows_every_error_and_changes_nothing(scheduler: User, patient: Patient) -> None:
    client = browser(scheduler)
    response = client.post(
        f"/patients/{patient.pk}/edit/",
        {"family_name": "", "phone": "12", "birth_date": "2031-01-01", "birth_date_precision": "day", "language": "sw"},
    )
    assert response.status_code == 400
    assert {"family_name"} <= set(response.context["form"].errors)
    before = patient.family_name
    patient.refresh_from_db()
    assert patient.family_name == before


def test_only_roles_that_manage_patients_may_edit_them(technologist: User, patient: Patient) -> None:
    client = browser(technologist)
    assert client.get(f"/patients/{patient.pk}/edit/").status_code == 403
    assert client.post(f"/patients/{patient.pk}/edit/", {"family_name": "X"}).status_code == 403
    assert 'id="edit-patient"' not in client.get(f"/patients/{patient.pk}/").content.decode()


def test_a_scheduler_withdraws_an_unbooked_order_with_a_reason(scheduler: User, order: Order) -> None:
    client = browser(scheduler)
    queue = client.get("/orders/queue/").content.decode()
    assert f'action="/orders/{order.pk}/withdraw/"' in queue
    refused = client.post(f"/orders/{order.pk}/withdraw/", {"reason": ""}, follow=True)
    assert "Give a reason" in refused.content.decode()
    order.refresh_from_db()
    assert order.status == ExamStatus.REQUESTED
    client.post(f"/orders/{order.pk}/withdraw/", {"reason": "Requested twice by the ward"})
    order.refresh_from_db()
    assert order.status == ExamStatus.CANCELLED
    assert order.status_reason == "Requested twice by the ward"
    assert f'action="/orders/{order.pk}/withdraw/"' not in client.get("/orders/queue/").content.decode()


def test_a_booked_order_is_not_withdrawn_from_the_queue(scheduler: User, appointment: Appointment) -> None:
    response = browser(scheduler).post(f"/orders/{appointment.order_id}/withdraw/", {"reason": "x"}, follow=True)
    assert "cancel its appointment instead" in response.content.decode()
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.SCHEDULED


def test_a_technologist_cannot_withdraw_orders(technologist: User, order: Order) -> None:
    client = browser(technologist)
    assert client.post(f"/orders/{order.pk}/withdraw/", {"reason": "x"}).status_code == 403
    assert "/withdraw/" not in client.get("/orders/queue/").content.decode()


def test_the_day_list_offers_no_show_only_from_the_start_plus_the_grace_and_asks_first(
    technologist: User, appointment: Appointment, frozen_clock: Any
) -> None:
    client = browser(technologist)
    url = f"/daylist/?station={appointment.station_id}&date=2026-12-01"
    assert 'value="no_show"' not in client.get(url).content.decode()  # 07:00, the exam is at 09:00
    frozen_clock.move_to(at(9, 15))
    page = client.get(url).content.decode()
    assert 'value="no_show"' in page
    assert "hx-confirm=" in page.split('value="no_show"', 1)[1].split("</form>", 1)[0]


def test_swahili_pages_name_the_accession_and_the_scheduler_in_swahili(
    scheduler: User, appointment: Appointment
) -> None:
    page = browser(scheduler, "sw").get(f"/daylist/?station={appointment.station_id}&date=2026-12-01").content.decode()
    assert "Na. ya kipimo" in page
    assert ">Accession<" not in page
    assert "mratibu wa miadi" in page  # "mpangaji" reads as "tenant"


def test_order_entry_groups_the_catalogue_by_modality_closed_until_searched(scheduler: User, patient: Patient) -> None:
    from orders.services import procedure_create

    procedure_create(code="USABD", name="US Abdomen", modality="US", default_duration_minutes=20)
    procedure_create(code="CTCH", name="CT Chest", modality="CT", default_duration_minutes=20)
    client = browser(scheduler)
    page = client.get(f"/patients/{patient.pk}/orders/new/").content.decode()
    assert page.count('<details class="choice-group"') == 2
    assert '<details class="choice-group" open>' not in page  # nothing opened before a search
    found = client.get("/procedures/choices/?procedure_q=abdomen").content.decode()
    assert found.count('<details class="choice-group" open>') == 1
    assert "US Abdomen" in found
    assert "CT Chest" not in found


@pytest.mark.parametrize(
    ("typed", "stored", "precision"),
    [
        ("14/03/1985", dt.date(1985, 3, 14), "day"),
        ("4.3.1985", dt.date(1985, 3, 4), "day"),
        ("1985-03-14", dt.date(1985, 3, 14), "day"),
        ("03/1985", dt.date(1985, 3, 1), "month"),
        ("1985", dt.date(1985, 1, 1), "year"),
    ],
)
def test_a_birth_date_is_typed_day_first_with_what_the_patient_knows(
    scheduler: User, typed: str, stored: dt.date, precision: str
) -> None:
    response = browser(scheduler).post(
        "/patients/new/", {"family_name": "Mrema", "birth_date": typed, "language": "sw"}
    )
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    patient = Patient.objects.get(family_name="Mrema")
    assert (patient.birth_date, patient.birth_date_precision) == (stored, precision)
    edit = browser(scheduler).get(f"/patients/{patient.pk}/edit/").content.decode()
    assert f'value="{patient.birth_date_display}"' in edit  # shown back as it was typed (day first)


@pytest.mark.parametrize("typed", ["11/25/1956", "31/02/1990", "85", "1850", "next year"])
def test_an_american_or_impossible_birth_date_is_refused_with_the_expected_form(scheduler: User, typed: str) -> None:
    response = browser(scheduler).post("/patients/new/", {"family_name": "Mrema", "birth_date": typed})
    assert response.status_code == 400
    assert "day/month/year (14/03/1985)" in response.content.decode()
    assert not Patient.objects.filter(family_name="Mrema").exists()


def test_a_refused_booking_shows_the_same_day_again(scheduler: User, appointment: Appointment, make_order: Any) -> None:
    order = make_order()
    client = browser(scheduler)
    page = client.get(f"/orders/{order.pk}/book/?date=2026-12-04").content.decode()
    assert f'action="/orders/{order.pk}/book/confirm/?date=2026-12-04&amp;view=day"' in page
    appointment_book(order=make_order(), station=appointment.station, starts_at=at(10, day=4))
    refused = client.post(
        f"/orders/{order.pk}/book/confirm/?date=2026-12-04&view=day",
        {"station": appointment.station_id, "starts_at": "2026-12-04 10:00"},
    )
    assert refused.status_code == 409
    assert refused.context["day"] == dt.date(2026, 12, 4)  # not back to today
    assert "Friday 4 December 2026" in refused.content.decode()


def test_downtime_and_the_audit_search_take_day_month_year(admin_user: User, ct_station: Station) -> None:
    client = browser(admin_user)
    form = {"starts_at": "02/12/2026 08:00", "ends_at": "02/12/2026 12:30", "reason": "Tube replacement"}
    assert client.post(f"/stations/{ct_station.pk}/", form).status_code == 302
    closure = ct_station.closures.get()
    assert (closure.starts_at, closure.ends_at) == (at(8, day=2), at(12, 30, day=2))
    page = client.get(f"/stations/{ct_station.pk}/").content.decode()
    assert 'type="datetime-local"' not in page
    found = client.get("/audit/?from=01/12/2026&until=01/12/2026")
    assert found.status_code == 200
    assert found.context["params"]["from"] == "01/12/2026"


def test_a_patient_booked_elsewhere_is_refused_and_an_admin_books_anyway_with_a_reason(
    scheduler: User, admin_user: User, appointment: Appointment, make_order: Any
) -> None:
    other_room = station_create(name="CT Scanner 2", room="Room 9", modality="CT", ae_title="CT_ROOM9")
    order = make_order(patient=appointment.order.patient)
    form = {"station": other_room.pk, "starts_at": "2026-12-01 09:00"}
    refused = browser(scheduler).post(f"/orders/{order.pk}/book/confirm/", form)
    assert refused.status_code == 409
    text = refused.content.decode()
    assert "cannot be in two places at once" in text
    assert "CT Scanner · Room 3" in text  # the room, as people name it
    assert 'name="override_reason"' not in text  # a scheduler may not override
    offered = browser(admin_user).post(f"/orders/{order.pk}/book/confirm/", form)
    assert 'name="override_reason"' in offered.content.decode()
    booked = browser(admin_user).post(
        f"/orders/{order.pk}/book/confirm/", {**form, "override_reason": "One sedation for both scans"}
    )
    assert booked.status_code == 302
    assert Appointment.objects.get(order=order).patient_overlap_allowed
