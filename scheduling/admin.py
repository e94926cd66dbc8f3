from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from audit.admin import AuditedAdmin
from scheduling.models import Appointment, Closure, OpeningHours, Station
from scheduling.selectors import capacity_refusal, lane_booked_above
from scheduling.stations import STATION_FIELDS, station_create, station_update


class OpeningHoursInline(admin.TabularInline[OpeningHours, Station]):
    model = OpeningHours
    extra = 0


class ClosureInline(admin.TabularInline[Closure, Station]):
    model = Closure
    extra = 0


class StationAdminForm(forms.ModelForm[Station]):
    class Meta:
        model = Station
        # the fields the station service changes, in the model's order
        fields = [f.name for f in Station._meta.fields if f.name in STATION_FIELDS]

    def clean_capacity(self) -> int:
        """The service's rule, as a form error instead of a crash: not fewer places than are booked."""
        capacity: int = self.cleaned_data["capacity"]
        if self.instance.pk is not None:
            in_use = lane_booked_above(station=self.instance, capacity=capacity)
            if in_use is not None:
                raise forms.ValidationError(capacity_refusal(in_use))
        return capacity


@admin.register(Station)
class StationAdmin(AuditedAdmin):
    form = StationAdminForm
    list_display = ["ae_title", "name", "room", "modality", "capacity", "ip_address", "tls_required", "site", "active"]
    list_filter = ["modality", "site", "active"]
    search_fields = ["ae_title", "name", "room"]
    inlines = [OpeningHoursInline, ClosureInline]

    def save_model(self, request: Any, obj: Station, form: Any, change: bool) -> None:
        # Through the service: a new AE title or name reaches the worklist items.
        if change:
            station_update(station=obj)
        else:
            obj.pk = station_create(**{name: getattr(obj, name) for name in STATION_FIELDS}).pk
            obj._state.adding = False


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin[Appointment]):
    """Read-only: booking goes through the scheduling services (overlap checks, worklist)."""

    list_display = ["starts_at", "ends_at", "station", "order", "status"]
    list_filter = ["status", "station"]
    date_hierarchy = "starts_at"
    readonly_fields = [f.name for f in Appointment._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
