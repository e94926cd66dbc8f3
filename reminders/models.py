from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ReminderStatus(models.TextChoices):
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed (will be retried)")
    GAVE_UP = "gave_up", _("Failed (gave up)")


class Reminder(models.Model):
    """One reminder for one appointment. The unique constraint makes sending
    idempotent: two runs (or two workers) cannot both claim the same reminder."""

    appointment = models.ForeignKey("scheduling.Appointment", on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(_("kind"), max_length=16, default="day_before")
    status = models.CharField(_("status"), max_length=8, choices=ReminderStatus.choices)
    phone = models.CharField(_("phone"), max_length=13)
    language = models.CharField(_("language"), max_length=2)
    text = models.TextField(_("message"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "kind"], name="reminder_once_per_appointment"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.phone} {self.status}"
