"""REST resources of the gateway: modality profiles, captured queries, and
"why isn't my patient on the scanner?"."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Action
from dicom_gateway.models import AssociationRecord, CapturedQuery, Profile
from dicom_gateway.selectors import captured_query_list, worklist_explain
from mwl_ris.lib.validation import full_clean_or_raise
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
        profile = Profile(**data.validated_data)
        full_clean_or_raise(profile)
        profile.save()
        return Response(ProfileSerializer(profile).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None) -> Response:
        profile = self.get_object()
        data = ProfileSerializer(data=request.data, partial=self.action == "partial_update")
        data.is_valid(raise_exception=True)
        for name, value in data.validated_data.items():
            setattr(profile, name, value)
        full_clean_or_raise(profile)
        profile.save()
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
