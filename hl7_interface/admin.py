from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from audit.admin import AuditedAdmin
from hl7_interface.inbox import message_reprocess
from hl7_interface.models import (
    INBOX_FIELDS,
    Destination,
    InboundMessage,
    InboundStatus,
    OutboundMessage,
    ProcedureCodeMap,
)
from hl7_interface.outbox import outbound_retry
from hl7_interface.tasks import deliver_after_commit
from mwl_ris.lib.errors import ApplicationError


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin[InboundMessage]):
    """The inbox. A message in error can be corrected (its text; the raw bytes
    stay as received) and reprocessed."""

    list_display = ["received_at", "sender", "message_type", "control_id", "status", "ack_code", "error"]
    list_filter = ["status", "message_type", "sender"]
    search_fields = ["control_id", "error"]
    actions = ["reprocess"]
    fields = tuple(INBOX_FIELDS)

    def get_readonly_fields(self, request: HttpRequest, obj: InboundMessage | None = None) -> list[str]:
        editable = {"text"} if obj is not None and obj.status == InboundStatus.ERROR else set()
        return [f for f in INBOX_FIELDS if f not in editable]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: InboundMessage, form: Any, change: bool) -> None:
        try:
            message_reprocess(message=obj, text=obj.text)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.refresh_from_db()
        level = messages.SUCCESS if obj.status == InboundStatus.PROCESSED else messages.WARNING
        self.message_user(
            request, _("Reprocessed: %(status)s %(error)s") % {"status": obj.status, "error": obj.error}, level
        )

    @admin.action(description=_("Reprocess the selected messages in error"))
    def reprocess(self, request: HttpRequest, queryset: QuerySet[InboundMessage]) -> None:
        done = failed = 0
        for message in queryset.filter(status=InboundStatus.ERROR).order_by("received_at", "pk"):
            message = message_reprocess(message=message)
            done, failed = (done + 1, failed) if message.status == InboundStatus.PROCESSED else (done, failed + 1)
        self.message_user(
            request, _("%(done)d processed, %(failed)d still in error.") % {"done": done, "failed": failed}
        )


@admin.register(ProcedureCodeMap)
class ProcedureCodeMapAdmin(AuditedAdmin):
    list_display = ["code", "coding_system", "procedure", "station"]
    search_fields = ["code"]


@admin.register(Destination)
class DestinationAdmin(AuditedAdmin):
    list_display = ["name", "host", "port", "use_tls", "statuses", "active"]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin[OutboundMessage]):
    list_display = ["created_at", "destination", "control_id", "exam_status", "state", "attempts", "last_error"]
    list_filter = ["state", "destination"]
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Deliver the selected messages again now"))
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        destinations, count = outbound_retry(messages=queryset)
        deliver_after_commit(destinations)
        self.message_user(request, _("%(count)d messages queued for delivery.") % {"count": count})
