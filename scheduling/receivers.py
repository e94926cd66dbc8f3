"""Scheduling's answers to other apps' signals."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from patients.models import Patient
from patients.signals import patient_merged
from scheduling.models import Appointment, AppointmentStatus


@receiver(patient_merged)
def appointments_follow_merge(sender: Any, *, source: Patient, target: Patient, **kwargs: Any) -> None:
    """The duplicate's appointments become the survivor's. Where the two records
    were booked at the same time (two registrations, two bookings), both stay and
    the moved one is marked as allowed: the desk sees them and sorts it out; the
    merge must not fail for it."""
    moved = list(Appointment.objects.filter(patient=source))
    kept = list(Appointment.objects.filter(patient=target, status=AppointmentStatus.ACTIVE))
    clashing = [
        a.pk
        for a in moved
        if a.status == AppointmentStatus.ACTIVE
        and any(b.starts_at < a.ends_at and a.starts_at < b.ends_at for b in kept)
    ]
    Appointment.objects.filter(pk__in=clashing).update(patient_overlap_allowed=True)
    Appointment.objects.filter(patient=source).update(patient=target)
