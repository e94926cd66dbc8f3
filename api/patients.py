"""REST resources for patients (thin: serializers in, services, serializers out)."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Action
from patients.models import BirthDatePrecision, IdentifierKind, Patient, PatientIdentifier, Sex
from patients.selectors import patient_list
from patients.services import patient_create, patient_merge, patient_update


class IdentifierSerializer(serializers.ModelSerializer[PatientIdentifier]):
    kind = serializers.ChoiceField(choices=IdentifierKind.choices)

    class Meta:
        model = PatientIdentifier
        fields = ["kind", "issuer", "value"]
        extra_kwargs = {"issuer": {"required": False}}
        validators: list[Any] = []  # uniqueness is checked by the service


class PatientOutputSerializer(serializers.ModelSerializer[Patient]):
    identifiers = IdentifierSerializer(many=True, read_only=True)
    dicom_name = serializers.CharField(read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "patient_id",
            "issuer",
            "family_name",
            "given_name",
            "middle_name",
            "name_prefix",
            "name_suffix",
            "ideographic_name",
            "phonetic_name",
            "dicom_name",
            "medical_alerts",
            "allergies",
            "birth_date",
            "birth_date_precision",
            "sex",
            "phone",
            "address",
            "language",
            "identifiers",
            "merged_into",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PatientInputSerializer(serializers.Serializer[dict[str, Any]]):
    patient_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Leave empty to generate one."
    )
    issuer = serializers.CharField(max_length=64, required=False, allow_blank=True)
    family_name = serializers.CharField(max_length=64)
    given_name = serializers.CharField(max_length=64, required=False, allow_blank=True)
    middle_name = serializers.CharField(max_length=64, required=False, allow_blank=True)
    name_prefix = serializers.CharField(max_length=64, required=False, allow_blank=True, help_text="Dr, Mrs…")
    name_suffix = serializers.CharField(max_length=64, required=False, allow_blank=True)
    ideographic_name = serializers.CharField(max_length=64, required=False, allow_blank=True)
    phonetic_name = serializers.CharField(max_length=64, required=False, allow_blank=True)
    medical_alerts = serializers.CharField(max_length=64, required=False, allow_blank=True)
    allergies = serializers.CharField(max_length=64, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    birth_date_precision = serializers.ChoiceField(choices=BirthDatePrecision.choices, required=False)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False, allow_blank=True)
    phone = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text="+255XXXXXXXXX; 0712 345 678 is accepted too."
    )
    address = serializers.CharField(required=False, allow_blank=True)
    language = serializers.ChoiceField(
        choices=[("sw", "Swahili"), ("en", "English")], required=False, help_text="Language of the slip."
    )
    identifiers = IdentifierSerializer(many=True, required=False)


class PatientCreateSerializer(PatientInputSerializer):
    allow_duplicate = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Register even though likely duplicates exist (409 possible_duplicate lists them); "
        "the pairs are kept for an admin to review.",
    )


class MergeInputSerializer(serializers.Serializer[dict[str, Any]]):
    into = serializers.PrimaryKeyRelatedField(
        queryset=Patient.objects.all(), help_text="The surviving patient (its id)."
    )


class PatientFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_q", label="Search: name words, Patient ID prefix, NHIF/NIDA number, phone"
    )
    include_merged = django_filters.BooleanFilter(method="filter_noop")

    class Meta:
        model = Patient
        fields = ["patient_id", "issuer", "birth_date", "sex"]

    def filter_q(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(pk__in=patient_list(q=value, include_merged=True).values("pk"))

    def filter_noop(self, queryset: Any, name: str, value: Any) -> Any:
        return queryset


class PatientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Patient]):
    """Patients. Registration and changes need the scheduler or admin role; merge needs admin."""

    serializer_class = PatientOutputSerializer
    filterset_class = PatientFilter
    ordering_fields = ["family_name", "patient_id", "created_at"]
    required_actions = {
        "create": Action.MANAGE_PATIENTS,
        "update": Action.MANAGE_PATIENTS,
        "partial_update": Action.MANAGE_PATIENTS,
        "merge": Action.MERGE_PATIENTS,
    }

    def get_queryset(self) -> Any:
        include_merged = self.request.query_params.get("include_merged", "").lower() in ("1", "true")
        if getattr(self, "action", None) != "list":
            include_merged = True
        return patient_list(include_merged=include_merged)

    @extend_schema(
        request=PatientCreateSerializer,
        responses={201: PatientOutputSerializer, 409: OpenApiResponse(description="possible_duplicate: candidates")},
    )
    def create(self, request: Request) -> Response:
        data = PatientCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        duplicates = "flag" if fields.pop("allow_duplicate") else "refuse"
        patient = patient_create(duplicates=duplicates, via="api", **fields)
        return Response(PatientOutputSerializer(patient).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PatientInputSerializer, responses=PatientOutputSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        patient = self.get_object()
        data = PatientInputSerializer(data=request.data, partial=self.action == "partial_update")
        data.is_valid(raise_exception=True)
        patient = patient_update(patient=patient, **data.validated_data)
        return Response(PatientOutputSerializer(patient).data)

    @extend_schema(request=PatientInputSerializer, responses=PatientOutputSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk)

    @extend_schema(
        request=MergeInputSerializer,
        responses=PatientOutputSerializer,
        description="Merge this patient (the duplicate) into `into`; returns the surviving patient.",
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The duplicate patient")],
    )
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str | None = None) -> Response:
        source = self.get_object()
        data = MergeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merge = patient_merge(source=source, target=data.validated_data["into"], actor=request.user, via="api")
        return Response(PatientOutputSerializer(Patient.objects.get(pk=merge.target_id)).data)
