"""Slips exist only for active appointments and carry the facility, the birth
date and the accession as a barcode that the day list takes at arrival."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from PIL import Image

from audit.models import AuditRecord
from facility.services import facility_get, facility_update
from orders.models import ExamStatus
from scheduling.booking import appointment_cancel, appointment_reschedule
from scheduling.models import Appointment
from tests.conftest import at
from tests.ui.test_views import browser

pytestmark = pytest.mark.django_db


def png(width: int = 40, height: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(out, format="PNG")
    return out.getvalue()


def test_the_slip_of_an_active_appointment_names_the_facility_birth_date_and_barcode(
    scheduler: User, appointment: Appointment
) -> None:
    facility_update(
        name="Muhimbili National Hospital",
        department="Radiology",
        department_sw="Idara ya Radiolojia",
        address="P.O. Box 65000, Dar es Salaam",
        phone="+255 22 215 1367",
        logo=png(),
    )
    slip = browser(scheduler).get(f"/appointments/{appointment.pk}/slip/")
    assert slip.status_code == 200
    html = slip.content.decode()
    assert "Muhimbili National Hospital" in html
    assert "Idara ya Radiolojia" in html  # the patient reads Swahili (the default)
    assert "P.O. Box 65000" in html
    assert "+255 22 215 1367" in html
    assert "Radiology / Imaging department" not in html
    assert "14/03/1985" in html  # the birth date, day/month/year
    assert "saa 3:00 asubuhi (09:00)" in html  # the Swahili clock for a Swahili-speaking patient
    assert "barcode_group" in barcode_svg(html)  # the Code 128 barcode, an SVG image
    assert appointment.order.accession_number in html
    logo = browser(scheduler).get("/facility/logo")
    assert (logo.status_code, logo["Content-Type"]) == (200, "image/png")


def barcode_svg(html: str) -> str:
    """The slip's barcode image (a data: URI, outside the page's CSP), decoded; '' without one."""
    found = re.search(r'<img class="barcode" src="data:image/svg\+xml;base64,([^"]+)"', html)
    return base64.b64decode(found.group(1)).decode() if found else ""


@pytest.mark.parametrize("how", ["cancelled", "rescheduled"])
def test_a_cancelled_or_moved_appointment_has_no_slip_but_a_void_page(
    scheduler: User, appointment: Appointment, how: str
) -> None:
    new = None
    if how == "cancelled":
        appointment_cancel(appointment=appointment, reason="patient travelled")
    else:
        new = appointment_reschedule(appointment=appointment, starts_at=at(14), reason="patient asked")
    client = browser(scheduler)
    slip = client.get(f"/appointments/{appointment.pk}/slip/")
    assert slip.status_code == 410
    html = slip.content.decode()
    assert "VOID" in html
    assert "Appointment slip" not in html
    assert barcode_svg(html) == ""
    detail = client.get(f"/appointments/{appointment.pk}/").content.decode()
    assert 'id="print-slip"' not in detail
    assert 'id="appointment-void"' in detail
    if new is not None:  # the void page links to where the exam went
        assert f'href="/appointments/{new.pk}/"' in html
        assert f'href="/appointments/{new.pk}/"' in detail
        assert client.get(f"/appointments/{new.pk}/slip/").status_code == 200
    else:
        assert "no current booking" in html


def test_only_an_admin_changes_the_facility_and_every_error_shows_at_once(scheduler: User, admin_user: User) -> None:
    assert browser(scheduler).get("/settings/facility/").status_code == 403
    admin = browser(admin_user)
    bad = admin.post(
        "/settings/facility/",
        {"name": "", "email": "not-an-address", "logo": io.BytesIO(b"<svg onload=alert(1)>")},
    )
    assert bad.status_code == 400
    form = bad.context["form"]
    assert set(form.errors) == {"name", "email"}  # both at once; the logo is checked when the form is valid
    upload = io.BytesIO(b"GIF89a not an image")
    upload.name = "logo.png"
    refused = admin.post("/settings/facility/", {"name": "KCMC", "logo": upload})
    assert refused.status_code == 400
    assert "PNG or JPEG" in refused.content.decode()
    assert facility_get().name == ""  # nothing saved from a refused form
    logo = io.BytesIO(png())
    logo.name = "logo.png"
    saved = admin.post("/settings/facility/", {"name": "KCMC", "phone": "027 275 4377", "logo": logo})
    assert saved.status_code == 302
    facility = facility_get()
    assert (facility.name, facility.phone, facility.logo_content_type) == ("KCMC", "027 275 4377", "image/png")
    assert AuditRecord.objects.filter(object_type="facility.Facility").exists()


def test_scanning_the_slip_marks_the_patient_arrived(
    technologist: User, appointment: Appointment, frozen_clock: Any
) -> None:
    frozen_clock.move_to(at(8, 40))
    client = browser(technologist)
    accession = appointment.order.accession_number
    response = client.post("/daylist/arrive/", {"accession": f" {accession.lower()} ", "next": "/daylist/"})
    assert response.status_code == 302
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.ARRIVED
    page = client.get("/daylist/").content.decode()
    assert "has arrived for" in page


def test_a_scanned_slip_of_another_day_or_an_unknown_number_is_refused(
    technologist: User, appointment: Appointment, frozen_clock: Any
) -> None:
    frozen_clock.move_to(at(8, 40) - dt.timedelta(days=1))  # the day before the appointment
    client = browser(technologist)
    client.post("/daylist/arrive/", {"accession": appointment.order.accession_number})
    page = client.get("/daylist/").content.decode()
    assert "not today" in page
    client.post("/daylist/arrive/", {"accession": "NOPE123"})
    assert "No booked exam has the accession number NOPE123" in client.get("/daylist/").content.decode()
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.SCHEDULED


def test_an_admin_issues_and_revokes_an_api_token_from_the_web_pages(admin_user: User, scheduler: User) -> None:
    from rest_framework.authtoken.models import Token

    from tests.conftest import client_for

    assert browser(scheduler).get("/settings/api-tokens/").status_code == 403
    admin = browser(admin_user)
    admin.post(f"/settings/api-tokens/{scheduler.pk}/issue/")
    key = Token.objects.get(user=scheduler).key
    page = admin.get("/settings/api-tokens/").content.decode()
    assert key in page  # shown once ...
    assert key not in admin.get("/settings/api-tokens/").content.decode()  # ... and never again
    api = client_for(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/patients/").status_code == 200
    admin.post(f"/settings/api-tokens/{scheduler.pk}/revoke/")
    assert api.get("/api/v1/patients/").status_code == 401
    assert AuditRecord.objects.filter(object_type="authtoken.Token").count() == 2


def test_the_tokens_page_shows_when_and_from_where_each_token_was_last_used(
    admin_user: User, scheduler: User, technologist: User, frozen_clock: Any
) -> None:
    from accounts.models import ApiTokenUse
    from accounts.services import api_token_issue
    from tests.conftest import client_for

    key = api_token_issue(user=scheduler).key
    api_token_issue(user=technologist)  # issued, never used
    admin = browser(admin_user)

    def last_use_of(user: User) -> str:
        page = admin.get("/settings/api-tokens/").content.decode()
        row = re.search(rf'<tr id="token-user-{user.pk}">.*?<td class="last-use">(.*?)</td>', page, re.S)
        assert row, page
        return row.group(1).strip()

    assert last_use_of(scheduler) == "never"
    assert "<code>Authorization: Token &lt;key&gt;</code>" in admin.get("/settings/api-tokens/").content.decode()
    api = client_for(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/patients/", REMOTE_ADDR="10.20.0.7").status_code == 200
    assert last_use_of(scheduler) == "01/12/2026 07:00 from 10.20.0.7"
    assert last_use_of(technologist) == "never"
    assert last_use_of(admin_user) == "—"  # no token at all

    api.get("/api/v1/patients/", REMOTE_ADDR="10.20.0.8")  # within the minute: not written again
    assert ApiTokenUse.objects.get(token_id=key).uses == 1
    frozen_clock.shift(dt.timedelta(minutes=5))
    api.get("/api/v1/patients/", REMOTE_ADDR="10.20.0.8")
    assert last_use_of(scheduler) == "01/12/2026 07:05 from 10.20.0.8"
    assert ApiTokenUse.objects.get(token_id=key).uses == 2

    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert api.get("/api/v1/patients/").status_code == 401
    assert ApiTokenUse.objects.count() == 1
    api_token_issue(user=scheduler)  # a new key starts with no use
    assert last_use_of(scheduler) == "never"


def test_an_accession_code_128_cannot_carry_prints_without_a_barcode(scheduler: User, appointment: Appointment) -> None:
    from orders.models import Order

    Order.objects.filter(pk=appointment.order_id).update(accession_number="ÄK-1")  # imported from another system
    slip = browser(scheduler).get(f"/appointments/{appointment.pk}/slip/")
    assert slip.status_code == 200
    html = slip.content.decode()
    assert "ÄK-1" in html
    assert barcode_svg(html) == ""
