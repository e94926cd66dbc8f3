"""The HL7 inbox (every message received, raw, before anything else happens),
the procedure code map, and outbound destinations with their message queue."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class InboundStatus(models.TextChoices):
    RECEIVED = "received", _("Received (not yet processed)")
    PROCESSED = "processed", _("Processed")
    ERROR = "error", _("Error (parsed, could not be applied)")
    REJECTED = "rejected", _("Rejected (unparseable or unsupported)")
    DUPLICATE = "duplicate", _("Duplicate (control ID seen before)")


# What a reviewer sees of an inbox message, in this order (the admin's page and the API).
INBOX_FIELDS = (
    "received_at",
    "peer",
    "sender",
    "control_id",
    "message_type",
    "version",
    "charset",
    "status",
    "error",
    "text",
    "ack_code",
    "ack",
    "duplicate_of",
    "attempts",
    "processed_at",
    "patient",
    "order",
)


class InboundMessage(models.Model):
    """One HL7 message as received. The raw bytes are stored before parsing,
    so nothing is lost whatever happens next."""

    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    peer = models.CharField(_("peer"), max_length=64, blank=True)
    raw = models.BinaryField(_("raw bytes as received"))
    # The text processed: the decoded raw message, or a user's correction of it.
    text = models.TextField(_("message text"), blank=True)
    charset = models.CharField(_("character set (MSH-18)"), max_length=32, blank=True)
    sender = models.CharField(_("sender (MSH-3|MSH-4)"), max_length=200, blank=True)
    control_id = models.CharField(_("message control ID (MSH-10)"), max_length=64, blank=True)
    message_type = models.CharField(_("message type (MSH-9)"), max_length=32, blank=True)
    version = models.CharField(_("version (MSH-12)"), max_length=16, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=InboundStatus.choices, default=InboundStatus.RECEIVED)
    error = models.TextField(_("error"), blank=True)
    ack_code = models.CharField(_("acknowledgement code"), max_length=2, blank=True)
    ack = models.TextField(_("acknowledgement sent"), blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    attempts = models.PositiveSmallIntegerField(_("processing attempts"), default=0)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("inbound HL7 message")
        verbose_name_plural = _("inbound HL7 messages")
        ordering = ["-received_at", "-pk"]
        constraints = [
            # A control ID is processed once per sender: the duplicate check and
            # the last guard when the same message arrives on two connections.
            models.UniqueConstraint(
                fields=["sender", "control_id"],
                condition=~Q(control_id="") & ~Q(status__in=["duplicate", "rejected"]),
                name="hl7_inbound_control_id_once",
            ),
        ]
        indexes = [
            # the review queue: messages in error / rejected, newest first
            models.Index(fields=["status", "received_at"], name="hl7_inbound_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_type or '?'} {self.control_id or '-'} ({self.status})"


class ProcedureCodeMap(models.Model):
    """OBR-4 Universal Service ID → catalogue procedure (and optionally the
    station to book it on). Without an entry, a code equal to a catalogue
    procedure's code is used as is; anything else is held for review."""

    code = models.CharField(_("code (OBR-4.1)"), max_length=64)
    coding_system = models.CharField(
        _("coding system (OBR-4.3)"), max_length=32, blank=True, help_text=_("Empty: any coding system.")
    )
    procedure = models.ForeignKey("orders.Procedure", on_delete=models.CASCADE, related_name="hl7_codes")
    station = models.ForeignKey(
        "scheduling.Station",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Book orders for this code on this station when they carry a requested time."),
    )

    class Meta:
        verbose_name = _("HL7 procedure code")
        verbose_name_plural = _("HL7 procedure codes")
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["code", "coding_system"], name="hl7_code_map_unique")]

    def __str__(self) -> str:
        return f"{self.code} → {self.procedure.code}"


class Destination(models.Model):
    """An HL7 system (the order placer) that wants exam status messages."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    host = models.CharField(_("host"), max_length=255)
    port = models.PositiveIntegerField(_("port"))
    receiving_application = models.CharField(_("receiving application (MSH-5)"), max_length=64, blank=True)
    receiving_facility = models.CharField(_("receiving facility (MSH-6)"), max_length=64, blank=True)
    statuses = models.CharField(
        _("statuses sent"),
        max_length=200,
        default="scheduled,arrived,in_progress,completed,cancelled,discontinued,no_show",
        help_text=_("Comma-separated exam statuses that produce a message."),
    )
    use_tls = models.BooleanField(
        _("use TLS"),
        default=False,
        help_text=_(
            "Send over TLS. The destination's certificate is checked against HL7_OUTBOUND_TLS_CA_FILE "
            "and its host name."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    # Set while one worker delivers to this destination (see outbox.py).
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("HL7 destination")
        verbose_name_plural = _("HL7 destinations")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port}{', TLS' if self.use_tls else ''})"

    def wants(self, status: str) -> bool:
        return status in {s.strip() for s in self.statuses.split(",")}


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent (acknowledged)")
    RETRYING = "retrying", _("Retrying")
    FAILED = "failed", _("Failed (gave up)")


class OutboundMessage(models.Model):
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="messages")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="hl7_outbound")
    exam_status = models.CharField(_("exam status"), max_length=12)
    control_id = models.CharField(_("message control ID"), max_length=32, unique=True)
    text = models.TextField(_("message text"))
    state = models.CharField(_("state"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    last_error = models.TextField(_("last error"), blank=True)
    ack_code = models.CharField(_("acknowledgement code"), max_length=2, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outbound HL7 message")
        verbose_name_plural = _("outbound HL7 messages")
        ordering = ["-created_at", "-pk"]
        indexes = [
            # the delivery sweep: undelivered messages that are due, oldest first
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "retrying"]),
                name="hl7_outbound_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.control_id} → {self.destination.name} ({self.state})"
