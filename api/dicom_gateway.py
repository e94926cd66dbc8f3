"""REST resources of the gateway: modality profiles, captured queries, and
"why isn't my patient on the scanner?"."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Action
from dicom_gateway.models import AssociationRecord, CapturedQuery, PerformedProcedureStep, Profile
from dicom_gateway.mpps import mpps_link
from dicom_gateway.selectors import captured_query_list, worklist_explain
from dicom_gateway.services import profile_create, profile_update
from orders.models import Order
from scheduling.models import Station


class ProfileSerializer(serializers.ModelSerializer[Profile]):
    name_max_length = serializers.IntegerField(min_value=4, max_value=64, allow_null=True, required=False)
    max_results = serializers.IntegerField(min_value=1, max_value=100_000, allow_null=True, required=False)

    class Meta:
        model = Profile
        fields = [
            "id",
            "name",
            "charset",
            "name_format",
            "name_max_length",
            "max_results",
            "use_calling_ae_as_station",
            "include_code_sequences",
            "pending_status_for_unsupported_keys",
        ]
        validators: list[Any] = []


class ProfileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Profile]):
    """Modality profiles: how the worklist answers a station (set a station's `dicom_profile`). Admin role to change."""

    serializer_class = ProfileSerializer
    queryset = Profile.objects.all()
    write_action = Action.MANAGE_CATALOGUE

    def create(self, request: Request) -> Response:
        data = ProfileSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = profile_create(**data.validated_data)
        return Response(ProfileSerializer(profile).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None) -> Response:
        profile = self.get_object()
        data = ProfileSerializer(data=request.data, partial=self.action == "partial_update")
        data.is_valid(raise_exception=True)
        profile = profile_update(profile=profile, **data.validated_data)
        return Response(ProfileSerializer(profile).data)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk)


class CapturedQuerySerializer(serializers.ModelSerializer[CapturedQuery]):
    class Meta:
        model = CapturedQuery
        fields = ["id", "calling_ae_title", "peer", "identifier", "matches", "status", "duration_ms", "received_at"]


class CapturedQueryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[CapturedQuery]):
    """The last queries each modality sent (kept per calling AE), newest first."""

    serializer_class = CapturedQuerySerializer
    queryset = captured_query_list()
    filterset_fields = ["calling_ae_title"]


class AssociationRecordSerializer(serializers.ModelSerializer[AssociationRecord]):
    class Meta:
        model = AssociationRecord
        fields = ["id", "calling_ae_title", "called_ae_title", "peer", "outcome", "reason", "at"]


class AssociationRecordViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AssociationRecord]
):
    """Every association modalities opened and what the gateway decided (accepted, rejected, aborted)."""

    serializer_class = AssociationRecordSerializer
    queryset = AssociationRecord.objects.all()
    filterset_fields = ["calling_ae_title", "outcome"]


class ExplainQuerySerializer(serializers.Serializer[dict[str, Any]]):
    order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.all())
    station = serializers.PrimaryKeyRelatedField(queryset=Station.objects.all(), required=False)
    captured_query = serializers.PrimaryKeyRelatedField(
        queryset=CapturedQuery.objects.all(),
        required=False,
        help_text="Replay this real query; default: the station's (or the exam's station's) latest query, "
        "else a typical day-list query.",
    )


class CheckSerializer(serializers.Serializer[dict[str, Any]]):
    rule = serializers.CharField()
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ExplanationSerializer(serializers.Serializer[dict[str, Any]]):
    served = serializers.BooleanField()
    query_source = serializers.CharField()
    checks = CheckSerializer(many=True)


class WorklistExplainApi(APIView):
    """Why is (or isn't) this exam on a modality's worklist? Each rule the gateway applies, checked."""

    @extend_schema(parameters=[ExplainQuerySerializer], responses=ExplanationSerializer)
    def get(self, request: Request) -> Response:
        query = ExplainQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        order: Order = query.validated_data["order"]
        station: Station | None = query.validated_data.get("station")
        captured: CapturedQuery | None = query.validated_data.get("captured_query")
        if captured is None:
            ae = (
                station.ae_title
                if station
                else getattr(getattr(order, "worklist_item", None), "station_ae_title", None)
            )
            if ae:
                captured = captured_query_list(calling_ae_title=ae).first()
        explanation = worklist_explain(order=order, station=station, captured=captured)
        return Response(ExplanationSerializer(explanation.as_dict()).data)


class PerformedStepSerializer(serializers.ModelSerializer[PerformedProcedureStep]):
    class Meta:
        model = PerformedProcedureStep
        fields = [
            "id",
            "sop_instance_uid",
            "status",
            "order",
            "calling_ae_title",
            "performed_station_ae_title",
            "pps_id",
            "patient_name",
            "patient_id_value",
            "accession_number",
            "study_instance_uid",
            "sps_id",
            "started_at",
            "ended_at",
            "discontinuation_reason",
            "series",
            "stale",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LinkInputSerializer(serializers.Serializer[dict[str, Any]]):
    order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.all(), help_text="The order this exam performed.")


class PerformedStepFilter(django_filters.FilterSet):
    unmatched = django_filters.BooleanFilter(field_name="order", lookup_expr="isnull", label="Only steps with no order")

    class Meta:
        model = PerformedProcedureStep
        fields = ["status", "calling_ae_title", "accession_number", "stale", "order"]


class PerformedStepViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[PerformedProcedureStep]
):
    """Performed procedure steps (MPPS) the modalities reported, newest first. `?unmatched=true`: exams done
    at a scanner that matched no order; link one with `POST .../link/` and the exam follows the step."""

    serializer_class = PerformedStepSerializer
    queryset = PerformedProcedureStep.objects.order_by("-created_at")
    filterset_class = PerformedStepFilter
    required_actions = {"link": Action.EXAM_PROGRESS}

    @extend_schema(request=LinkInputSerializer, responses=PerformedStepSerializer)
    @action(detail=True, methods=["post"])
    def link(self, request: Request, pk: str | None = None) -> Response:
        step = self.get_object()
        data = LinkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        problem = mpps_link(step=step, order=data.validated_data["order"])
        body = dict(PerformedStepSerializer(step).data)
        body["exam_follow_problem"] = problem
        return Response(body)
