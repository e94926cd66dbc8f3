"""python manage.py ris_backup (scripts/backup): the database and the audit archive into BACKUP_DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from operations.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "Back up the database and the audit archive into a dated folder of BACKUP_DIR; prune old ones."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dir", type=Path, default=None, help="instead of BACKUP_DIR")
        parser.add_argument("--keep-days", type=int, default=None, help="instead of BACKUP_KEEP_DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            backup = backup_create(backup_dir=options["dir"], keep_days=options["keep_days"])
        except (BackupError, OSError) as exc:
            raise CommandError(f"backup failed: {exc}") from exc
        sizes = ", ".join(f"{name} {size / 1024 / 1024:.1f} MB" for name, size in backup.manifest["bytes"].items())
        counts = ", ".join(f"{label.split('.')[-1]} {n}" for label, n in backup.manifest["counts"].items())
        self.stdout.write(f"backup written: {backup.path} ({sizes}); rows: {counts}")
