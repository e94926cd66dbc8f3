from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SpsStatus(models.TextChoices):
    """Scheduled Procedure Step Status (0040,0020) defined terms."""

    SCHEDULED = "SCHEDULED", _("Scheduled")
    ARRIVED = "ARRIVED", _("Arrived")
    STARTED = "STARTED", _("Started")
    COMPLETED = "COMPLETED", _("Completed")
    DISCONTINUED = "DISCONTINUED", _("Discontinued")


# The statuses a modality is served (the gateway filters on these).
SERVED_STATUSES = (SpsStatus.SCHEDULED, SpsStatus.ARRIVED)


class WorklistItem(models.Model):
    """The denormalised projection of patient + order + appointment that a
    modality is served (DICOM PS3.4 Annex K). One row per booked order. Written
    only by worklist.services.worklist_item_sync, inside the transaction of the
    service that changed the order, the appointment or the patient. Every Type 1
    key is validated there, so the gateway never meets an incomplete item.
    Column names follow the DICOM keywords they serve."""

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="worklist_item")
    appointment = models.OneToOneField("scheduling.Appointment", on_delete=models.CASCADE, related_name="worklist_item")
    station = models.ForeignKey("scheduling.Station", on_delete=models.PROTECT, related_name="+")
    patient_record = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")

    # Patient (Patient Identification / Demographic modules)
    patient_name = models.CharField(max_length=200)  # PN, all five components in up to three groups
    patient_name_search = models.CharField(max_length=200)  # accents folded, lower case: the admin's search
    patient_id = models.CharField(max_length=64)  # LO
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)  # LO
    patient_birth_date = models.DateField(null=True, blank=True)  # DA
    patient_sex = models.CharField(max_length=1, blank=True)  # CS M/F/O

    # Imaging Service Request / Requested Procedure
    accession_number = models.CharField(max_length=16, blank=True)  # SH, Type 2: empty for some imported items
    study_instance_uid = models.CharField(max_length=64, unique=True)  # UI
    requested_procedure_id = models.CharField(max_length=16)  # SH
    requested_procedure_description = models.CharField(max_length=64)  # LO
    requested_procedure_code_value = models.CharField(max_length=16)  # SH
    requested_procedure_coding_scheme = models.CharField(max_length=16)  # SH
    requested_procedure_code_meaning = models.CharField(max_length=64)  # LO
    requested_procedure_priority = models.CharField(max_length=8)  # CS
    referring_physician_name = models.CharField(max_length=200, blank=True)  # PN
    requesting_physician_name = models.CharField(max_length=200, blank=True)  # PN
    reason_for_requested_procedure = models.CharField(max_length=64, blank=True)  # LO
    placer_order_number = models.CharField(max_length=64, blank=True)  # LO
    filler_order_number = models.CharField(max_length=64, blank=True)  # LO

    # Scheduled Procedure Step
    sps_id = models.CharField(max_length=16)  # SH
    sps_description = models.CharField(max_length=64)  # LO
    sps_start = models.DateTimeField()  # aware; the date/time columns below are local
    sps_start_date = models.DateField()  # DA, facility-local date of sps_start
    sps_start_time = models.TimeField()  # TM, facility-local time of sps_start
    sps_end = models.DateTimeField()
    modality = models.CharField(max_length=16)  # CS
    station_ae_title = models.CharField(max_length=16)  # AE
    # More Scheduled Station AE Titles of an imported multi-valued item ("AA32\AA33"), as "\AA33\".
    other_station_ae_titles = models.CharField(max_length=200, blank=True, default="")
    station_name = models.CharField(max_length=16)  # SH
    # The code of the station's site ("" for the main site): the row filter of
    # the site's publication (edge/replication.py). With the id, the table's
    # replica identity there, so it is never NULL.
    site_code = models.CharField(max_length=16, blank=True, default="")
    sps_location = models.CharField(max_length=16, blank=True)  # SH
    performing_physician_name = models.CharField(max_length=200, blank=True)  # PN
    protocol_code_value = models.CharField(max_length=16, blank=True)  # SH
    protocol_coding_scheme = models.CharField(max_length=16, blank=True)  # SH
    protocol_code_meaning = models.CharField(max_length=64, blank=True)  # LO
    sps_status = models.CharField(max_length=16, choices=SpsStatus.choices)  # CS
    # Every other attribute of the model with a value, keyword -> value
    # (worklist.attributes): from the RIS (allergies, comments, pregnancy
    # status…) and kept from an imported item. Served when asked, not matched.
    attributes = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("worklist item")
        verbose_name_plural = _("worklist items")
        ordering = ["sps_start", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["accession_number"], condition=~models.Q(accession_number=""), name="wl_accession_unique"
            ),
            # the replica identity of an edge site's publication (row filter on site_code)
            models.UniqueConstraint(fields=["id", "site_code"], name="wl_replica_identity"),
        ]
        indexes = [
            # C-FIND day list: Scheduled Station AE Title = X and SPS Start Date in a range
            models.Index(fields=["station_ae_title", "sps_start_date", "sps_start_time"], name="wl_ae_date_idx"),
            # C-FIND by modality and date (scanners that send Modality instead of their AE title)
            models.Index(fields=["modality", "sps_start_date", "sps_start_time"], name="wl_modality_date_idx"),
            # C-FIND and API date ranges across all stations; combined date-time ranges
            models.Index(fields=["sps_start"], name="wl_sps_start_idx"),
            # C-FIND by Patient ID
            models.Index(fields=["patient_id"], name="wl_patient_id_idx"),
            # No index on Patient's Name: C-FIND matches patient_name (case-insensitive exact,
            # prefix or pattern), which a B-tree on the column cannot serve; a name is
            # matched within the day list the other keys already narrow.
            # C-FIND by Requested Procedure ID / SPS ID (often equal to the accession number)
            models.Index(fields=["requested_procedure_id"], name="wl_rp_id_idx"),
            models.Index(fields=["sps_id"], name="wl_sps_id_idx"),
            # C-FIND by station AE on the few items with several AE titles (imported .wl files)
            models.Index(
                fields=["other_station_ae_titles"],
                condition=models.Q(other_station_ae_titles__gt=""),
                name="wl_other_ae_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.accession_number} {self.station_ae_title} {self.sps_start:%Y-%m-%d %H:%M}"
