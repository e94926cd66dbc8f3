"""The Celery jobs, each called directly and twice (the second run changes
nothing), and one end-to-end run through a real worker on the real Redis."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.db import connection
from django.test import override_settings

from audit.models import AuditRecord
from audit.tasks import audit_export_and_prune_task, audit_seal_task, audit_verify_task
from dicom_gateway.models import PerformedProcedureStep, PpsStatus
from dicom_gateway.tasks import mpps_stale_task
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order
from reminders.models import Reminder, ReminderStatus
from reminders.senders import SendFailed
from reminders.services import reminders_send_due
from scheduling.booking import appointment_book
from scheduling.models import Appointment, AppointmentStatus, Station
from scheduling.tasks import worklist_expiry_task
from tests.conftest import DAR, at
from tests.waiting import wait_until
from worklist.models import WorklistItem

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_expiry_takes_never_started_exams_off_the_worklist_once(frozen_clock: Any, appointment: Appointment) -> None:
    assert worklist_expiry_task() == {"expired": 0, "purged": 0}  # 09:00 is not past yet
    frozen_clock.move_to(at(21, 5))  # 12 h 5 min after the 09:00 start (grace 12 h)
    assert worklist_expiry_task()["expired"] == 1
    order = Order.objects.get(pk=appointment.order_id)
    assert order.status == ExamStatus.NO_SHOW
    assert "Expired" in order.status_reason
    assert not WorklistItem.objects.filter(order=order).exists()
    assert Appointment.objects.get(pk=appointment.pk).status == AppointmentStatus.NO_SHOW
    assert AuditRecord.objects.filter(action="status", interface="celery", actor="worklist_expiry").exists()
    assert worklist_expiry_task()["expired"] == 0


@pytest.mark.django_db
def test_an_exam_in_progress_does_not_expire(frozen_clock: Any, appointment: Appointment) -> None:
    exam_transition(order=appointment.order, to=ExamStatus.IN_PROGRESS)
    frozen_clock.move_to(at(23))
    assert worklist_expiry_task()["expired"] == 0


@pytest.mark.django_db
def test_finished_exams_leave_the_projection_after_the_retention(frozen_clock: Any, appointment: Appointment) -> None:
    for step in (ExamStatus.IN_PROGRESS, ExamStatus.COMPLETED):
        exam_transition(order=appointment.order, to=step)
    assert WorklistItem.objects.filter(order=appointment.order).exists()
    frozen_clock.move_to(NOW_PLUS(hours=47))
    assert worklist_expiry_task()["purged"] == 0
    frozen_clock.move_to(NOW_PLUS(hours=49))
    assert worklist_expiry_task()["purged"] == 1
    assert not WorklistItem.objects.filter(order=appointment.order).exists()
    assert worklist_expiry_task()["purged"] == 0


def NOW_PLUS(**delta: int) -> dt.datetime:
    return at(7) + dt.timedelta(**delta)


@pytest.mark.django_db
def test_unmatched_mpps_is_flagged_stale_once(frozen_clock: Any) -> None:
    PerformedProcedureStep.objects.create(sop_instance_uid="1.2.3", status=PpsStatus.IN_PROGRESS, calling_ae_title="X")
    frozen_clock.move_to(NOW_PLUS(hours=25))
    assert mpps_stale_task() == 1
    assert PerformedProcedureStep.objects.get().stale
    assert mpps_stale_task() == 0


class Recorder:
    def __init__(self, fail: bool = False):
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def send(self, *, phone: str, text: str) -> None:
        if self.fail:
            raise SendFailed("gateway down")
        self.sent.append((phone, text))


@pytest.mark.django_db
def test_the_day_before_reminder_goes_once_in_the_patients_language(
    make_order: Any, ct_station: Station, patient: Any
) -> None:
    patient.language = "sw"
    patient.save()
    order = make_order(patient=patient)
    appointment_book(order=order, station=ct_station, starts_at=at(10, day=2))
    sender = Recorder()
    assert reminders_send_due(now=at(9), sender=sender)["sent"] == 0  # before REMINDER_HOUR (10:00)
    assert reminders_send_due(now=at(10), sender=sender)["sent"] == 1
    assert reminders_send_due(now=at(11), sender=sender)["sent"] == 0  # second run: nothing again
    ((phone, text),) = sender.sent
    assert phone == "+255712345678"
    assert "Kumbusho" in text
    assert "kesho" in text
    assert "Jumatano 2 Disemba" in text
    assert "saa 4:00 asubuhi (10:00)" in text  # the Swahili clock, and the 24-hour time
    assert Reminder.objects.get().status == ReminderStatus.SENT


@pytest.mark.django_db
def test_a_failed_reminder_is_retried_then_given_up(make_order: Any, ct_station: Station, patient: Any) -> None:
    appointment_book(order=make_order(patient=patient), station=ct_station, starts_at=at(10, day=2))
    down = Recorder(fail=True)
    for _ in range(3):
        assert reminders_send_due(now=at(12), sender=down)["failed"] == 1
    assert Reminder.objects.get().status == ReminderStatus.GAVE_UP
    assert reminders_send_due(now=at(13), sender=Recorder())["sent"] == 0


@pytest.mark.django_db
def test_the_audit_tasks_twice(appointment: Appointment, tmp_path: Path) -> None:
    assert audit_seal_task() > 0
    assert audit_seal_task() == 0
    assert audit_verify_task() is True
    with override_settings(AUDIT_ARCHIVE_DIR=str(tmp_path)):
        first = audit_export_and_prune_task()
        assert first == {"exported_days": 0, "pruned_records": 0}  # everything happened today: no closed day
        assert audit_export_and_prune_task() == first


# --- a real worker on the real Redis ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_expiry_job_from_redis(appointment: Appointment, tmp_path: Path) -> None:
    """Publish through Redis, let `celery worker` (a separate process on the test
    database) take the job, and see the exam expire. The clock of that process is
    real: the appointment is moved into the past first."""
    Appointment.objects.filter(pk=appointment.pk).update(
        starts_at=dt.datetime(2020, 1, 1, 9, tzinfo=DAR), ends_at=dt.datetime(2020, 1, 1, 9, 30, tzinfo=DAR)
    )
    queue = f"test-{uuid.uuid4().hex[:8]}"
    broker = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/15"
    database = connection.settings_dict
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/"
        f"{database['NAME']}",
        "DJANGO_SETTINGS_MODULE": "mwl_ris.settings",
        "MWL_VAR_DIR": str(tmp_path),
    }
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database only on PostgreSQL")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mwl_ris",
            "worker",
            "-Q",
            queue,
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # A producer of its own on that broker: the session's Celery app may already be bound to another.
        with Celery("publisher", broker=broker) as publisher:
            publisher.send_task("scheduling.tasks.worklist_expiry_task", queue=queue)

        def expired() -> bool:
            assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else ""
            return Order.objects.get(pk=appointment.order_id).status == ExamStatus.NO_SHOW

        wait_until(expired, timeout=60, what="the worker to expire the exam", interval=0.2)
        order = Order.objects.get(pk=appointment.order_id)
        assert order.status == ExamStatus.NO_SHOW
        assert AuditRecord.objects.filter(interface="celery", actor="worklist_expiry", object_id=str(order.pk)).exists()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_the_http_sms_sender_posts_the_configured_json(make_order: Any) -> None:
    """The SMS gateway adapter against a real HTTP server on 127.0.0.1."""
    import http.server
    import json
    import threading

    from reminders.senders import HttpSmsSender

    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Authorization"], json.loads(body)))
            self.send_response(202 if self.path == "/ok" else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        sender = HttpSmsSender(
            url=f"{base}/ok", auth_header="Authorization: Bearer s3cret", body='{"to": "{phone}", "sms": "{text}"}'
        )
        sender.send(phone="+255712345678", text='Kesho saa 3 "asubuhi"')
        assert received == [("Bearer s3cret", {"to": "+255712345678", "sms": 'Kesho saa 3 "asubuhi"'})]
        with pytest.raises(SendFailed):
            HttpSmsSender(url=f"{base}/fail", auth_header="", body=None).send(phone="+255700000000", text="x")
    finally:
        server.shutdown()
