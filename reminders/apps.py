from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemindersConfig(AppConfig):
    """Appointment reminders to patients (the day before), through a pluggable sender."""

    name = "reminders"
    verbose_name = _("Reminders")
