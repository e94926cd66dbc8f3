"""Backups that restore: the database (PostgreSQL custom-format dump, or an online copy of
the quick start's SQLite file) and the audit archive, in one dated folder under BACKUP_DIR,
with a manifest of row counts and checksums; and the restore that checks them.

The archive is packed before the database is dumped: every chain head the archive
remembers is then in the dump, and audit_verify passes on the restored pair. The audit
HMAC key is not in the backup (keep it apart, docs/security.md): a restore needs it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from mwl_ris.lib.errors import ApplicationError

MANIFEST = "manifest.json"
LAST = "last-backup.json"
ARCHIVE = "audit-archive.tar.gz"
PG_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite3"
# Tables whose row counts the manifest keeps (and the restore compares).
COUNTED = (
    "patients.Patient",
    "orders.Order",
    "scheduling.Appointment",
    "scheduling.Station",
    "worklist.WorklistItem",
    "dicom_gateway.PerformedProcedureStep",
    "hl7_interface.InboundMessage",
    "audit.AuditRecord",
    "auth.User",
)


class BackupError(ApplicationError):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def row_counts() -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in COUNTED}


def _pg_env(url: str) -> tuple[list[str], dict[str, str]]:
    """pg_dump/pg_restore take the database URL as --dbname (libpq accepts URIs)."""
    return ["--dbname", url.replace("postgres://", "postgresql://", 1)], dict(os.environ)


def current_database_url() -> str:
    """The database this process uses, as a libpq URI (its password in PGPASSWORD, not the command line)."""
    conf = connection.settings_dict
    user = quote(str(conf.get("USER") or ""), safe="")
    host = str(conf.get("HOST") or "")
    port = f":{conf['PORT']}" if conf.get("PORT") else ""
    return f"postgresql://{user}@{host}{port}/{quote(str(conf['NAME']), safe='')}"


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed (exit {done.returncode}): {done.stderr.strip()[:500]}")


@dataclass(frozen=True)
class Backup:
    path: Path
    manifest: dict[str, Any]


def backup_create(*, backup_dir: Path | None = None, keep_days: int | None = None) -> Backup:
    backup_dir = Path(backup_dir or settings.BACKUP_DIR)
    started = timezone.now()
    folder = backup_dir / timezone.localtime(started).strftime("%Y%m%d-%H%M%S")
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=False)
    archive_dir = Path(settings.AUDIT_ARCHIVE_DIR)
    with tarfile.open(partial / ARCHIVE, "w:gz") as tar:
        if archive_dir.is_dir():
            tar.add(archive_dir, arcname="audit")
    counts = row_counts()
    if connection.vendor == "postgresql":
        args, env = _pg_env(current_database_url())
        if connection.settings_dict.get("PASSWORD"):
            env["PGPASSWORD"] = str(connection.settings_dict["PASSWORD"])
        # Without grants, publications and subscriptions: they name roles of this cluster (an edge
        # site's replication user, docs/edge.md) that a new server lacks, and a restored subscription
        # would start replicating. After a restore, each site is published again.
        dump = [
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--no-publications",
            "--no-subscriptions",
        ]
        _run([*dump, "--file", str(partial / PG_DUMP), *args], env)
        database = PG_DUMP
    elif connection.vendor == "sqlite":
        source = sqlite3.connect(str(settings.DATABASES["default"]["NAME"]))
        target = sqlite3.connect(str(partial / SQLITE_COPY))
        with target:
            source.backup(target)  # SQLite's online backup: a consistent copy while the RIS runs
        source.close()
        target.close()
        database = SQLITE_COPY
    else:
        raise BackupError(f"no backup for a {connection.vendor} database")
    finished = timezone.now()
    manifest = {
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "vendor": connection.vendor,
        "database": database,
        "archive": ARCHIVE,
        "counts": counts,
        "sha256": {name: _sha256(partial / name) for name in (database, ARCHIVE)},
        "bytes": {name: (partial / name).stat().st_size for name in (database, ARCHIVE)},
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
    partial.rename(folder)
    (backup_dir / LAST).write_text(json.dumps({**manifest, "path": str(folder)}, indent=2))
    _prune(backup_dir, keep_days if keep_days is not None else settings.BACKUP_KEEP_DAYS, keep=folder)
    return Backup(folder, manifest)


def _prune(backup_dir: Path, keep_days: int, keep: Path) -> None:
    cutoff = timezone.localtime() - dt.timedelta(days=keep_days)
    for folder in backup_dir.iterdir():
        if not folder.is_dir() or folder == keep:
            continue
        try:
            made = dt.datetime.strptime(folder.name.removesuffix(".partial"), "%Y%m%d-%H%M%S")
        except ValueError:
            continue  # not one of ours
        if timezone.make_aware(made) < cutoff:
            shutil.rmtree(folder)


def backup_read(folder: Path) -> dict[str, Any]:
    try:
        manifest = dict(json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} is not a complete backup (no readable {MANIFEST}): {exc}") from exc
    for name, expected in manifest["sha256"].items():
        if _sha256(folder / name) != expected:
            raise BackupError(f"{folder / name} is damaged: its checksum differs from the manifest's")
    return manifest


def restore_files(folder: Path, *, database_url: str, archive_dir: Path) -> dict[str, Any]:
    """Put the backup's database into ``database_url`` (a new, empty PostgreSQL database, or a
    SQLite file that does not exist yet) and its audit archive into ``archive_dir``."""
    manifest = backup_read(folder)
    if manifest["vendor"] == "postgresql":
        if not database_url.startswith(("postgres://", "postgresql://")):
            raise BackupError("this backup is of PostgreSQL: give a postgres:// database URL")
        args, env = _pg_env(database_url)
        _run(["pg_restore", "--no-owner", "--exit-on-error", *args, str(folder / PG_DUMP)], env)
    else:
        if not database_url.startswith("sqlite:///"):
            raise BackupError("this backup is of SQLite: give a sqlite:/// database URL")
        target = Path(database_url.removeprefix("sqlite://"))
        if target.exists():
            raise BackupError(f"{target} exists: restore into a new file")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / SQLITE_COPY, target)
    archive_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / ARCHIVE, "r:gz") as tar:
        for member in tar.getmembers():
            # only our own files and folders, inside the archive folder (tarfile's "data" filter does this
            # too, where the Python has it: Debian 12's 3.11.2 predates it)
            parts = Path(member.name).parts
            if not (member.isfile() or member.isdir()) or not parts or parts[0] != "audit" or ".." in parts:
                raise BackupError(f"unexpected entry in the archive: {member.name}")
            member.name = str(Path(*parts[1:])) if len(parts) > 1 else "."
            if hasattr(tarfile, "data_filter"):
                tar.extract(member, archive_dir, filter="data")
            else:
                tar.extract(member, archive_dir)
    return manifest
