from __future__ import annotations

from typing import Any

from django.contrib import admin

from scheduling.models import Appointment, Closure, OpeningHours, Station
from scheduling.services import station_update


class OpeningHoursInline(admin.TabularInline[OpeningHours, Station]):
    model = OpeningHours
    extra = 0


class ClosureInline(admin.TabularInline[Closure, Station]):
    model = Closure
    extra = 0


@admin.register(Station)
class StationAdmin(admin.ModelAdmin[Station]):
    list_display = ["ae_title", "name", "room", "modality", "ip_address", "active"]
    list_filter = ["modality", "active"]
    search_fields = ["ae_title", "name", "room"]
    inlines = [OpeningHoursInline, ClosureInline]

    def save_model(self, request: Any, obj: Station, form: Any, change: bool) -> None:
        # Through the service: a new AE title or name reaches the worklist items.
        station_update(station=obj) if change else obj.save()


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin[Appointment]):
    """Read-only: booking goes through the scheduling services (overlap checks, worklist)."""

    list_display = ["starts_at", "ends_at", "station", "order", "status"]
    list_filter = ["status", "station"]
    date_hierarchy = "starts_at"
    readonly_fields = [f.name for f in Appointment._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
