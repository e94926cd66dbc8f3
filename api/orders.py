"""REST resources for the procedure catalogue and imaging orders."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Action, user_can
from mwl_ris.lib.errors import PermissionRefused
from orders.lifecycle import ExamStatus, allowed_transitions, exam_transition
from orders.models import Modality, Order, PregnancyStatus, Priority, Procedure
from orders.selectors import order_list, order_unscheduled_list, procedure_list
from orders.services import PROCEDURE_FIELDS, order_create, order_update, procedure_create, procedure_update
from patients.models import Patient


class ProcedureSerializer(serializers.ModelSerializer[Procedure]):
    class Meta:
        model = Procedure
        fields = ["id", *PROCEDURE_FIELDS]
        validators: list[Any] = []  # the service validates (including uniqueness) and answers 400


class ProcedureFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Procedure
        fields = ["modality", "code", "coding_scheme", "active", "body_part"]


class ProcedureViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Procedure]):
    """The procedure catalogue. Changes need the admin role; retire a procedure with active=false."""

    serializer_class = ProcedureSerializer
    filterset_class = ProcedureFilter
    queryset = procedure_list()
    write_action = Action.MANAGE_CATALOGUE

    def create(self, request: Request) -> Response:
        data = ProcedureSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        procedure = procedure_create(**data.validated_data)
        return Response(ProcedureSerializer(procedure).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None) -> Response:
        procedure = self.get_object()
        data = ProcedureSerializer(data=request.data, partial=self.action == "partial_update")
        data.is_valid(raise_exception=True)
        procedure = procedure_update(procedure=procedure, **data.validated_data)
        return Response(ProcedureSerializer(procedure).data)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk)


class OrderOutputSerializer(serializers.ModelSerializer[Order]):
    patient_id = serializers.CharField(source="patient.patient_id", read_only=True)
    patient_name = serializers.CharField(source="patient.dicom_name", read_only=True)
    procedure_code = serializers.CharField(source="procedure.code", read_only=True)
    procedure_name = serializers.CharField(source="procedure.name", read_only=True)
    modality = serializers.CharField(source="procedure.modality", read_only=True)
    allowed_transitions = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "patient",
            "patient_id",
            "patient_name",
            "procedure",
            "procedure_code",
            "procedure_name",
            "modality",
            "placer_order_number",
            "filler_order_number",
            "accession_number",
            "requested_procedure_id",
            "study_instance_uid",
            "priority",
            "referring_physician",
            "scheduled_performing_physician",
            "reason",
            "comments",
            "pregnancy_status",
            "status",
            "status_reason",
            "arrived_at",
            "started_at",
            "ended_at",
            "allowed_transitions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_allowed_transitions(self, order: Order) -> list[str]:
        return sorted(s.value for s in allowed_transitions(order.status))


class OrderInputSerializer(serializers.Serializer[dict[str, Any]]):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    procedure = serializers.PrimaryKeyRelatedField(queryset=Procedure.objects.all())
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.ROUTINE)
    referring_physician = serializers.CharField(max_length=64, required=False, allow_blank=True)
    reason = serializers.CharField(required=False, allow_blank=True)
    comments = serializers.CharField(required=False, allow_blank=True, help_text="For the technologist.")
    pregnancy_status = serializers.ChoiceField(
        choices=PregnancyStatus.choices, required=False, allow_null=True, help_text="DICOM Pregnancy Status."
    )
    scheduled_performing_physician = serializers.CharField(max_length=64, required=False, allow_blank=True)
    placer_order_number = serializers.CharField(max_length=64, required=False, allow_blank=True)
    filler_order_number = serializers.CharField(max_length=64, required=False, allow_blank=True)


class OrderUpdateSerializer(OrderInputSerializer):
    patient = None  # type: ignore[assignment]  # an order cannot change patient (merge instead)


class TransitionInputSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(
        choices=[s for s in ExamStatus.choices if s[0] not in (ExamStatus.REQUESTED, ExamStatus.SCHEDULED)]
    )
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class OrderFilter(django_filters.FilterSet):
    modality = django_filters.ChoiceFilter(field_name="procedure__modality", choices=Modality.choices)
    patient_id = django_filters.CharFilter(field_name="patient__patient_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["status", "priority", "patient", "accession_number", "placer_order_number", "filler_order_number"]


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Order]):
    """Imaging orders. `?status=requested` is the queue of orders waiting to be booked."""

    serializer_class = OrderOutputSerializer
    filterset_class = OrderFilter
    queryset = order_list()
    ordering_fields = ["created_at", "priority", "status"]
    required_actions = {
        "create": Action.MANAGE_ORDERS,
        "update": Action.MANAGE_ORDERS,
        "partial_update": Action.MANAGE_ORDERS,
        "transition": Action.EXAM_PROGRESS,
    }

    @extend_schema(responses=OrderOutputSerializer(many=True))
    @action(detail=False, methods=["get"])
    def unscheduled(self, request: Request) -> Response:
        """The scheduler's queue: orders waiting to be booked, STAT first, then urgent, then routine, oldest
        first. `status_reason` says why an order from HL7 was not booked automatically."""
        page = self.paginate_queryset(self.filter_queryset(order_unscheduled_list()))
        return self.get_paginated_response(OrderOutputSerializer(page, many=True).data)

    @extend_schema(request=OrderInputSerializer, responses={201: OrderOutputSerializer})
    def create(self, request: Request) -> Response:
        data = OrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_create(**data.validated_data, created_by=request.user)
        return Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OrderUpdateSerializer, responses=OrderOutputSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        data = OrderUpdateSerializer(data=request.data, partial=self.action == "partial_update")
        data.is_valid(raise_exception=True)
        order = order_update(order=order, **data.validated_data)
        return Response(OrderOutputSerializer(order).data)

    @extend_schema(request=OrderUpdateSerializer, responses=OrderOutputSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk)

    @extend_schema(
        request=TransitionInputSerializer,
        responses=OrderOutputSerializer,
        description=(
            "Move the exam along its lifecycle: arrived, in_progress, completed, no_show, discontinued, "
            "cancelled. Invalid transitions answer 409 with the allowed ones. Cancelling needs the "
            "scheduler or admin role; the others the technologist role too."
        ),
    )
    @action(detail=True, methods=["post"], url_path="status")
    def transition(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        data = TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["status"] == ExamStatus.CANCELLED and not user_can(request.user, Action.BOOK):
            raise PermissionRefused("Cancelling an exam needs the scheduler or admin role.")
        order = exam_transition(
            order=order, to=data.validated_data["status"], reason=data.validated_data["reason"], actor=request.user
        )
        return Response(OrderOutputSerializer(order_list().get(pk=order.pk)).data)
