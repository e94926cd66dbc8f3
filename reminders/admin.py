from __future__ import annotations

from django.contrib import admin

from reminders.models import Reminder


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin[Reminder]):
    list_display = ["created_at", "kind", "phone", "language", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind", "language"]
    search_fields = ["phone", "appointment__order__accession_number"]
    readonly_fields = [f.name for f in Reminder._meta.fields]
