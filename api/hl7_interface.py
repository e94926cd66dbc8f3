"""REST resources of the HL7 interface: the inbox (with reprocessing), the
procedure code map, outbound destinations and their delivery queue."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Action
from api.common import AuditedWrites
from hl7_interface.inbox import message_reprocess
from hl7_interface.models import INBOX_FIELDS, Destination, InboundMessage, OutboundMessage, ProcedureCodeMap


class InboundMessageSerializer(serializers.ModelSerializer[InboundMessage]):
    class Meta:
        model = InboundMessage
        fields = ["id", *INBOX_FIELDS]


class ReprocessSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(
        required=False, trim_whitespace=False, help_text="A corrected message text (keeps MSH-10); omit to retry as is."
    )


class InboundMessageFilter(filters.FilterSet):
    class Meta:
        model = InboundMessage
        fields = ["status", "sender", "control_id", "message_type"]


class InboundMessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[InboundMessage]):
    """Every HL7 message received, as received, with its status and the ACK sent. Newest first;
    `?status=error` is the review queue."""

    serializer_class = InboundMessageSerializer
    queryset = InboundMessage.objects.all()
    filterset_class = InboundMessageFilter
    required_actions = {"reprocess": Action.MANAGE_ORDERS}

    @extend_schema(request=ReprocessSerializer, responses=InboundMessageSerializer)
    @action(detail=True, methods=["post"])
    def reprocess(self, request: Request, pk: str | None = None) -> Response:
        """Apply a message in error again, after mapping its code or correcting its text."""
        data = ReprocessSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = message_reprocess(message=self.get_object(), text=data.validated_data.get("text"))
        return Response(InboundMessageSerializer(message).data)


class ProcedureCodeMapSerializer(serializers.ModelSerializer[ProcedureCodeMap]):
    class Meta:
        model = ProcedureCodeMap
        fields = ["id", "code", "coding_system", "procedure", "station"]


class ProcedureCodeMapViewSet(AuditedWrites, viewsets.ModelViewSet[ProcedureCodeMap]):
    """OBR-4 codes from the ordering system → catalogue procedures (and optionally a station). Admin role to change."""

    serializer_class = ProcedureCodeMapSerializer
    queryset = ProcedureCodeMap.objects.all()
    write_action = Action.MANAGE_CATALOGUE


class DestinationSerializer(serializers.ModelSerializer[Destination]):
    class Meta:
        model = Destination
        fields = [
            "id",
            "name",
            "host",
            "port",
            "use_tls",
            "receiving_application",
            "receiving_facility",
            "statuses",
            "active",
        ]


class DestinationViewSet(AuditedWrites, viewsets.ModelViewSet[Destination]):
    """Systems that receive exam status messages (ORM^O01 SC). Admin role to change."""

    serializer_class = DestinationSerializer
    queryset = Destination.objects.all()
    write_action = Action.MANAGE_CATALOGUE


class OutboundMessageSerializer(serializers.ModelSerializer[OutboundMessage]):
    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "destination",
            "order",
            "exam_status",
            "control_id",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "ack_code",
            "created_at",
            "sent_at",
            "text",
        ]


class OutboundMessageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[OutboundMessage]
):
    """Status messages queued for destinations, with their delivery state."""

    serializer_class = OutboundMessageSerializer
    queryset = OutboundMessage.objects.select_related("destination")
    filterset_fields = ["state", "destination", "order"]
