"""python manage.py ris_restore BACKUP (scripts/restore): a backup into a new database, then checked:
the same row counts as when it was taken, and audit_verify passing on the restored database and archive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from operations.backup import BackupError, backup_read, restore_files, row_counts


class Command(BaseCommand):
    help = (
        "Restore a backup folder into a new, empty database (--database-url) and its audit archive into "
        "--archive-dir, then check row counts and the audit trail against it. With --check-only: check the "
        "database this process uses against the backup (after a restore)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("backup", type=Path, help="a folder written by scripts/backup")
        parser.add_argument("--database-url", default="", help="where to restore (default: DATABASE_URL)")
        parser.add_argument("--archive-dir", type=Path, default=None, help="default: AUDIT_ARCHIVE_DIR")
        parser.add_argument("--check-only", action="store_true", help="only compare counts and verify the audit trail")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["backup"]
        try:
            if options["check_only"]:
                self._check(backup_read(folder))
                return
            url = options["database_url"] or settings.DATABASE_URL
            archive = options["archive_dir"] or Path(settings.AUDIT_ARCHIVE_DIR)
            manifest = restore_files(folder, database_url=url, archive_dir=archive)
        except (BackupError, OSError) as exc:
            raise CommandError(f"restore failed: {exc}") from exc
        self.stdout.write(
            f"restored {folder} ({manifest['finished_at']}) into {url.split('@')[-1]}; archive in {archive}"
        )
        # the checks run against the restored database: in a process of its own, configured for it
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "AUDIT_ARCHIVE_DIR": str(archive),
            "AUDIT_HMAC_KEY_FILE": settings.AUDIT_HMAC_KEY_FILE,
            "AUDIT_HMAC_OLD_KEY_FILES": ",".join(settings.AUDIT_HMAC_OLD_KEY_FILES),
        }
        done = subprocess.run(  # noqa: S603
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "ris_restore", str(folder), "--check-only"],
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise CommandError("the restored database does not match the backup (see above)")

    def _check(self, manifest: dict[str, Any]) -> None:
        from audit.services import audit_verify

        found = row_counts()
        differ = {k: (v, found.get(k)) for k, v in manifest["counts"].items() if found.get(k) != v}
        if differ:
            raise CommandError(
                "row counts differ from the backup's: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in differ.items())
            )
        self.stdout.write(
            "row counts match the backup: " + ", ".join(f"{k.split('.')[-1]} {v}" for k, v in found.items())
        )
        result = audit_verify(save=False)
        if not result.ok:
            raise CommandError(f"audit chain BROKEN at record #{result.first_broken_seq}: {result.detail}")
        self.stdout.write(f"audit chain OK: {result.detail}")
