"""Read-only REST view of the worklist projection: what modalities are served."""

from __future__ import annotations

import django_filters
from rest_framework import mixins, serializers, viewsets

from worklist.models import SpsStatus, WorklistItem
from worklist.selectors import worklist_item_list


class WorklistItemSerializer(serializers.ModelSerializer[WorklistItem]):
    class Meta:
        model = WorklistItem
        exclude = ["patient_name_search"]


class WorklistFilter(django_filters.FilterSet):
    station_ae_title = django_filters.CharFilter()
    date = django_filters.DateFilter(field_name="sps_start_date", label="Local SPS start date")
    date_from = django_filters.DateFilter(field_name="sps_start_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="sps_start_date", lookup_expr="lte")
    status = django_filters.MultipleChoiceFilter(field_name="sps_status", choices=SpsStatus.choices)

    class Meta:
        model = WorklistItem
        fields = ["modality", "accession_number", "patient_id", "station"]


class WorklistItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[WorklistItem]):
    """Worklist items (read-only; they follow orders and appointments)."""

    serializer_class = WorklistItemSerializer
    filterset_class = WorklistFilter
    queryset = worklist_item_list()
    ordering_fields = ["sps_start"]
