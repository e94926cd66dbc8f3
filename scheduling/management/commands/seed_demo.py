"""Idempotent demo data: stations, catalogue, patients, users and a week of
appointments around today, all written through the RIS services so the
worklist is exactly what it would be in real use."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role
from accounts.services import staff_user_ensure
from facility.services import facility_get, facility_update
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order, Procedure
from orders.services import order_create, procedure_create
from patients.models import BirthDatePrecision, IdentifierKind, Patient
from patients.services import patient_create
from scheduling import demo_data as demo
from scheduling.booking import appointment_book
from scheduling.models import Station
from scheduling.selectors import patient_clashes, station_free_slots
from scheduling.stations import OpeningHoursEntry, station_create

ISSUER = "MNH"
DEMO_PASSWORD = "demo-2026"  # noqa: S105 - documented demo credentials, printed at the end
USERS = [
    ("admin", Role.ADMIN),
    ("scheduler", Role.SCHEDULER),
    ("tech", Role.TECHNOLOGIST),
    ("radiologist", Role.RADIOLOGIST),
]


class Command(BaseCommand):
    help = "Load idempotent demo data for a Tanzanian referral hospital (safe to run again)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--patients", type=int, default=200)
        parser.add_argument("--days", type=int, default=3, help="days before and after today")
        parser.add_argument("--no-users", action="store_true", help="do not create the demo users")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])
        if not facility_get().name:  # an installation's own details are never overwritten
            facility_update(**demo.FACILITY)
        stations = self._stations()
        procedures = self._procedures()
        patients = self._patients(rng, options["patients"])
        booked = self._appointments(rng, stations, procedures, patients, options["days"])
        self._queue(random.Random(options["seed"] + 1), procedures, patients)
        if not options["no_users"]:
            self._users()
        self.stdout.write(
            f"Demo data: {len(stations)} stations, {len(procedures)} procedures, {len(patients)} patients, "
            f"{booked} new appointments."
        )
        if not options["no_users"]:
            self.stdout.write(
                "Demo users (change these passwords!): " + ", ".join(f"{name}/{DEMO_PASSWORD}" for name, _ in USERS)
            )

    def _stations(self) -> list[Station]:
        stations = []
        for name, room, modality, ae, hours in demo.STATIONS:
            station = Station.objects.filter(ae_title=ae).first()
            if station is None:
                opening = [OpeningHoursEntry(weekday=d, opens=o, closes=c) for d, (o, c) in hours.items()]
                station = station_create(
                    name=name,
                    name_sw=demo.STATION_NAMES_SW.get(ae, ""),
                    room=room,
                    modality=modality,
                    ae_title=ae,
                    capacity=demo.STATION_CAPACITY.get(ae, 1),
                    opening_hours=opening,
                )
            stations.append(station)
        return stations

    def _procedures(self) -> list[Procedure]:
        procedures = []
        for code, name, modality, minutes, body_part, protocol, prep in demo.PROCEDURES:
            procedure = Procedure.objects.filter(coding_scheme="RIS", code=code).first()
            if procedure is None:
                procedure = procedure_create(
                    code=code,
                    coding_scheme="RIS",
                    name=name,
                    name_sw=demo.PROCEDURE_NAMES_SW.get(code, ""),
                    modality=modality,
                    default_duration_minutes=minutes,
                    body_part=body_part,
                    protocol_code=protocol,
                    preparation=prep,
                    preparation_sw=demo.preparation_sw(prep),
                )
            procedures.append(procedure)
        return procedures

    def _patients(self, rng: random.Random, count: int) -> list[Patient]:
        patients = []
        today = timezone.localdate()
        for i in range(count):
            pid = f"MNH{2026000 + i:07d}"
            existing = Patient.objects.filter(issuer=ISSUER, patient_id=pid).first()
            # Draw the same random numbers whether or not the patient exists, so reruns stay identical.
            if i < len(demo.VISITORS):
                family, given, sex = demo.VISITORS[i]
                middle = ""
            else:
                sex = rng.choice("FM")
                family = rng.choice(demo.FAMILY_NAMES)
                given = rng.choice(demo.FEMALE_NAMES if sex == "F" else demo.MALE_NAMES)
                middle = rng.choice(demo.MALE_NAMES)  # Tanzanian middle names are often the father's
            age_days = rng.randint(30, 90 * 365)
            year_only = rng.random() < 0.1
            nhif = rng.random() < 0.6
            nhif_number = f"{rng.randint(10**11, 10**12 - 1)}"
            phone = f"+2557{rng.randint(10**7, 10**8 - 1)}"
            address = rng.choice(demo.REGIONS)
            if existing is not None:
                patients.append(existing)
                continue
            birth = today - dt.timedelta(days=age_days)
            precision = BirthDatePrecision.DAY
            if year_only:
                birth, precision = birth.replace(month=1, day=1), BirthDatePrecision.YEAR
            patients.append(
                patient_create(
                    duplicates="ignore",
                    patient_id=pid,
                    issuer=ISSUER,
                    family_name=family,
                    given_name=given,
                    middle_name=middle,
                    sex=sex,
                    birth_date=birth,
                    birth_date_precision=precision,
                    phone=phone,
                    address=address,
                    identifiers=[{"kind": IdentifierKind.NHIF, "value": nhif_number}] if nhif else [],
                    **self._medical(pid),
                )
            )
        return patients

    @staticmethod
    def _medical(patient_id: str) -> dict[str, str]:
        """Allergies and medical alerts for about one patient in ten (a
        generator of its own, so the rest of the demo stays as it was)."""
        rng = random.Random(patient_id)
        if rng.random() >= 0.1:
            return {}
        return {
            "allergies": rng.choice(["Iodine contrast", "Penicillin", "Latex", ""]),
            "medical_alerts": rng.choice(["Diabetic", "Pacemaker", "Asthma", "Sickle cell disease"]),
        }

    def _appointments(
        self,
        rng: random.Random,
        stations: list[Station],
        procedures: list[Procedure],
        patients: list[Patient],
        days: int,
    ) -> int:
        today = timezone.localdate()
        now = timezone.now()
        booked = 0
        by_modality: dict[str, list[Procedure]] = {}
        for procedure in procedures:
            by_modality.setdefault(procedure.modality, []).append(procedure)
        for offset in range(-days, days + 1):
            day = today + dt.timedelta(days=offset)
            for station in stations:
                prefix = f"DEMO-{day:%Y%m%d}-{station.ae_title}-"
                if Order.objects.filter(placer_order_number__startswith=prefix).exists():
                    continue  # this station-day was seeded by an earlier run
                booked += self._fill_day(random.Random(prefix), station, day, by_modality, patients, now, prefix)
        return booked

    def _fill_day(
        self,
        rng: random.Random,
        station: Station,
        day: dt.date,
        by_modality: dict[str, list[Procedure]],
        patients: list[Patient],
        now: dt.datetime,
        prefix: str,
    ) -> int:
        """Walk the day from opening time, booking about 70% of the free time."""
        candidates = by_modality.get(station.modality, [])
        tz = timezone.get_current_timezone()
        all_day = station.opening_hours.count() == 0  # a 24/7 station: a busy working day, 07:00-20:00
        cursor = dt.datetime.combine(day, dt.time(7 if all_day else 0), tzinfo=tz)
        day_end = dt.datetime.combine(day, dt.time(20), tzinfo=tz) if all_day else None
        booked = 0
        while candidates:
            procedure = rng.choice(candidates)
            duration = dt.timedelta(minutes=procedure.default_duration_minutes)
            slots = station_free_slots(station=station, day=day, duration=duration, not_before=cursor, limit=1)
            if not slots or (day_end is not None and slots[0][1] > day_end):
                break
            start = slots[0][0]
            if rng.random() > 0.7:  # leave a gap
                cursor = start + dt.timedelta(minutes=15)
                continue
            placer = f"{prefix}{timezone.localtime(start):%H%M}"
            patient = self._free_patient(rng, patients, start, start + duration)
            if patient is None:
                cursor = start + dt.timedelta(minutes=15)
                continue
            with transaction.atomic():
                self._book_one(
                    patient=patient,
                    procedure=procedure,
                    station=station,
                    start=start,
                    placer=placer,
                    priority=rng.choices(["routine", "urgent", "stat"], weights=[85, 12, 3])[0],
                    outcome=rng.random(),
                    now=now,
                    referring=rng.choice(demo.DOCTORS),
                    reason=rng.choice(demo.REASONS),
                )
            booked += 1
            cursor = start + duration
        return booked

    @staticmethod
    def _free_patient(
        rng: random.Random, patients: list[Patient], start: dt.datetime, end: dt.datetime
    ) -> Patient | None:
        """A patient not booked elsewhere at that time (nobody is in two rooms at once)."""
        for patient in rng.sample(patients, len(patients)):
            if not patient_clashes(patient_id=patient.pk, starts_at=start, ends_at=end).exists():
                return patient
        return None

    def _book_one(
        self,
        *,
        patient: Patient,
        procedure: Procedure,
        station: Station,
        start: dt.datetime,
        placer: str,
        priority: str,
        outcome: float,
        now: dt.datetime,
        referring: str,
        reason: str,
    ) -> None:
        order = order_create(
            patient=patient,
            procedure=procedure,
            priority=priority,
            referring_physician=referring,
            reason=reason,
            placer_order_number=placer,
        )
        appointment_book(order=order, station=station, starts_at=start, override_reason="demo data")
        end = start + dt.timedelta(minutes=procedure.default_duration_minutes)
        if end <= now:  # the past: mostly done, some no-shows and cancellations
            # a no-show only once the grace after the start has passed (a short exam ends sooner)
            no_show_from = start + dt.timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES)
            if outcome < 0.08 and no_show_from <= now:
                exam_transition(order=order, to=ExamStatus.NO_SHOW, reason="Did not attend")
            elif outcome < 0.12:
                exam_transition(order=order, to=ExamStatus.CANCELLED, reason="Cancelled by referring doctor")
            else:
                arrived = start - dt.timedelta(minutes=5 + int(outcome * 40))
                for step, at in ((ExamStatus.ARRIVED, arrived), (ExamStatus.IN_PROGRESS, start)):
                    exam_transition(order=order, to=step, at=at)
                exam_transition(order=order, to=ExamStatus.COMPLETED, at=end)
        elif start <= now:  # happening now
            exam_transition(order=order, to=ExamStatus.ARRIVED, at=start - dt.timedelta(minutes=20))
            exam_transition(order=order, to=ExamStatus.IN_PROGRESS, at=start)
        elif start - now < dt.timedelta(hours=2) and outcome < 0.5:
            exam_transition(order=order, to=ExamStatus.ARRIVED, at=min(now, start - dt.timedelta(minutes=30)))

    def _queue(self, rng: random.Random, procedures: list[Procedure], patients: list[Patient]) -> None:
        """A few orders waiting for a slot, as the HIS sends them: the scheduler's queue."""
        for i, priority in enumerate(["stat", "urgent", "routine", "routine", "urgent", "routine"]):
            placer = f"DEMO-QUEUE-{i + 1}"
            procedure, patient = rng.choice(procedures), rng.choice(patients)
            if Order.objects.filter(placer_order_number=placer).exists():
                continue
            order_create(
                patient=patient,
                procedure=procedure,
                priority=priority,
                referring_physician=rng.choice(demo.DOCTORS),
                reason=rng.choice(demo.REASONS),
                placer_order_number=placer,
            )

    def _users(self) -> None:
        for name, role in USERS:
            staff_user_ensure(username=name, role=role, password=DEMO_PASSWORD)
