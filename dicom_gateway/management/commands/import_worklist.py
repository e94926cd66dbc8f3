"""python manage.py import_worklist PATH: DICOM worklist files into the RIS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dicom_gateway.importing import worklist_files_import


class Command(BaseCommand):
    help = (
        "Import DICOM worklist files (.wl, as DCMTK wlmscpfs and Orthanc keep them) as patients, orders and "
        "appointments. Idempotent by accession number (Study Instance UID without one); prints what was skipped, "
        "and every attribute that was not kept as it was, and why."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", help="a .wl file, or a folder searched for .wl files")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        report = worklist_files_import(path)
        for accession, reason in report.queued:
            self.stdout.write(f"queued {accession}: not booked ({reason}); it waits in the unscheduled queue")
        for file, reason in report.skipped:
            self.stdout.write(f"skipped {file}: {reason}")
        for file, note in report.not_kept:
            self.stdout.write(f"{file}: {note}")
        for ae_title, capacity in report.capacity_raised.items():
            self.stdout.write(f"station {ae_title} now takes {capacity} patients at a time (overlapping items)")
        if report.stations_created:
            self.stdout.write(f"stations created: {', '.join(report.stations_created)}")
        self.stdout.write(
            f"imported {len(report.imported)} onto the worklist, {len(report.queued)} queued unscheduled, "
            f"{len(report.skipped)} skipped; {len(report.not_kept)} attributes not kept as they were"
        )
