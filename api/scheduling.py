"""REST resources for stations and appointments."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Action
from mwl_ris.lib.dicom import validate_ae_title
from orders.models import Modality, Order
from scheduling.booking import appointment_book, appointment_cancel, appointment_reschedule
from scheduling.models import Appointment, Closure, OpeningHours, Station, Weekday
from scheduling.selectors import station_free_slots
from scheduling.stations import closure_create, station_create, station_update


class OpeningHoursSerializer(serializers.ModelSerializer[OpeningHours]):
    weekday = serializers.ChoiceField(choices=Weekday.choices, help_text="0 = Monday … 6 = Sunday")

    class Meta:
        model = OpeningHours
        fields = ["weekday", "opens", "closes"]


class ClosureSerializer(serializers.ModelSerializer[Closure]):
    class Meta:
        model = Closure
        fields = ["id", "starts_at", "ends_at", "reason"]


class StationSerializer(serializers.ModelSerializer[Station]):
    opening_hours = OpeningHoursSerializer(
        many=True, required=False, help_text="Weekly hours; none at all means open around the clock."
    )

    class Meta:
        model = Station
        fields = [
            "id",
            "name",
            "name_sw",
            "room",
            "modality",
            "ae_title",
            "ip_address",
            "tls_required",
            "active",
            "capacity",
            "dicom_profile",
            "site",
            "opening_hours",
        ]
        validators: list[Any] = []
        # uniqueness is checked by the service (it knows which station is being updated)
        extra_kwargs = {"ae_title": {"validators": [validate_ae_title]}}


class FreeSlotsQuerySerializer(serializers.Serializer[dict[str, Any]]):
    date = serializers.DateField(required=False, help_text="Local date (default today)")
    minutes = serializers.IntegerField(default=30, min_value=5, max_value=480, help_text="Slot length")


class FreeSlotSerializer(serializers.Serializer[dict[str, Any]]):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class StationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Station]):
    """Stations (room + modality + AE title). Changes need the admin role."""

    serializer_class = StationSerializer
    queryset = Station.objects.prefetch_related("opening_hours")
    filterset_fields = ["modality", "ae_title", "active"]
    write_action = Action.MANAGE_CATALOGUE

    def create(self, request: Request) -> Response:
        data = StationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        station = station_create(**data.validated_data)
        return Response(StationSerializer(station).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None) -> Response:
        station = self.get_object()
        data = StationSerializer(data=request.data, partial=self.action == "partial_update")
        data.is_valid(raise_exception=True)
        station = station_update(station=station, **data.validated_data)
        return Response(StationSerializer(Station.objects.get(pk=station.pk)).data)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk)

    @extend_schema(request=ClosureSerializer, responses={201: ClosureSerializer})
    @action(detail=True, methods=["get", "post"])
    def closures(self, request: Request, pk: str | None = None) -> Response:
        """Downtime periods of the station (GET lists upcoming ones; POST adds one)."""
        station = self.get_object()
        if request.method == "POST":
            data = ClosureSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            closure = closure_create(station=station, **data.validated_data)
            return Response(ClosureSerializer(closure).data, status=status.HTTP_201_CREATED)
        upcoming = station.closures.filter(ends_at__gte=timezone.now())
        return Response(ClosureSerializer(upcoming, many=True).data)

    @extend_schema(parameters=[FreeSlotsQuerySerializer], responses=FreeSlotSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="free-slots")
    def free_slots(self, request: Request, pk: str | None = None) -> Response:
        """Free slots of the given length on a day: the "next available" list."""
        station = self.get_object()
        query = FreeSlotsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        day = query.validated_data.get("date") or timezone.localdate()
        minutes = query.validated_data["minutes"]
        slots = station_free_slots(station=station, day=day, duration=dt.timedelta(minutes=minutes))
        free = [{"starts_at": start, "ends_at": end} for start, end in slots]
        return Response(FreeSlotSerializer(free, many=True).data)  # type: ignore[arg-type]


class AppointmentOutputSerializer(serializers.ModelSerializer[Appointment]):
    station_ae_title = serializers.CharField(source="station.ae_title", read_only=True)
    accession_number = serializers.CharField(source="order.accession_number", read_only=True)
    exam_status = serializers.CharField(source="order.status", read_only=True)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "order",
            "accession_number",
            "exam_status",
            "station",
            "station_ae_title",
            "lane",
            "starts_at",
            "ends_at",
            "status",
            "override_reason",
            "patient_overlap_allowed",
            "cancel_reason",
            "replaced_by",
            "created_at",
        ]
        read_only_fields = fields


class BookInputSerializer(serializers.Serializer[dict[str, Any]]):
    order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.select_related("procedure"))
    station = serializers.PrimaryKeyRelatedField(queryset=Station.objects.all())
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(required=False, help_text="Default: start + the procedure's duration.")
    override_reason = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Book outside opening hours, in a closure, or while the patient is booked elsewhere at the "
        "same time (admin role).",
    )


class RescheduleInputSerializer(serializers.Serializer[dict[str, Any]]):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(required=False)
    station = serializers.PrimaryKeyRelatedField(queryset=Station.objects.all(), required=False)
    reason = serializers.CharField(max_length=200, help_text="Why the exam moves (kept with the old appointment).")
    override_reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class CancelInputSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=200)


class AppointmentFilter(django_filters.FilterSet):
    station_ae_title = django_filters.CharFilter(field_name="station__ae_title")
    modality = django_filters.ChoiceFilter(field_name="station__modality", choices=Modality.choices)
    date = django_filters.DateFilter(method="filter_date", label="Local date of the start")
    starts_after = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    starts_before = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")

    class Meta:
        model = Appointment
        fields = ["station", "order", "status"]

    def filter_date(self, queryset: Any, name: str, value: dt.date) -> Any:
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(value, dt.time(0), tzinfo=tz)
        return queryset.filter(starts_at__gte=start, starts_at__lt=start + dt.timedelta(days=1))


_CONFLICT = OpenApiResponse(description="The slot is taken: `clashing_appointment` names the booking that holds it.")


class AppointmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Appointment]):
    """Appointments. Booking, rescheduling and cancelling need the scheduler or admin role."""

    serializer_class = AppointmentOutputSerializer
    filterset_class = AppointmentFilter
    queryset = Appointment.objects.select_related("station", "order")
    ordering_fields = ["starts_at"]
    write_action = Action.BOOK

    @extend_schema(request=BookInputSerializer, responses={201: AppointmentOutputSerializer, 409: _CONFLICT})
    def create(self, request: Request) -> Response:
        data = BookInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appointment = appointment_book(**data.validated_data, actor=request.user)
        return Response(AppointmentOutputSerializer(appointment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RescheduleInputSerializer, responses={201: AppointmentOutputSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def reschedule(self, request: Request, pk: str | None = None) -> Response:
        """Move to a new time/station; returns the new appointment (the old one becomes *rescheduled*)."""
        data = RescheduleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        new = appointment_reschedule(appointment=self.get_object(), **data.validated_data, actor=request.user)
        return Response(AppointmentOutputSerializer(new).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CancelInputSerializer, responses=AppointmentOutputSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel the exam: frees the slot and takes it off the worklist."""
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appointment = self.get_object()
        appointment_cancel(appointment=appointment, reason=data.validated_data["reason"], actor=request.user)
        appointment.refresh_from_db()
        return Response(AppointmentOutputSerializer(appointment).data)
