"""Backups restore: a PostgreSQL backup restored into a new database has the same rows and
passes audit_verify (in its own process, against the restored database and archive); the
quick start's SQLite backup too; a damaged backup is refused; old backups are pruned."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditRecord
from operations.backup import backup_create
from orders.models import Order
from patients.models import Patient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def new_database() -> Iterator[str]:
    """An empty PostgreSQL database for the restore, dropped afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump and pg_restore need PostgreSQL")
    s = connection.settings_dict
    name = f"restore_{uuid.uuid4().hex[:10]}"
    server = f"postgresql://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_backup_restores_with_the_same_rows_and_a_passing_audit_trail(
    new_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("seed_demo", patients=15, days=1, no_users=True)
    call_command("audit_verify")  # seals: the archive's chain-heads.jsonl then remembers the head
    backup = backup_create(backup_dir=tmp_path / "backups")
    assert backup.manifest["counts"]["patients.Patient"] == Patient.objects.count() == 15
    restored_archive = tmp_path / "restored-archive"
    call_command("ris_restore", str(backup.path), database_url=new_database, archive_dir=restored_archive)
    assert (restored_archive / "chain-heads.jsonl").exists()
    with psycopg.connect(new_database) as restored:
        patients = restored.execute("SELECT count(*) FROM patients_patient").fetchone()
        orders = restored.execute("SELECT count(*) FROM orders_order").fetchone()
        audits = restored.execute("SELECT count(*) FROM audit_auditrecord").fetchone()
    assert patients is not None
    assert orders is not None
    assert audits is not None
    assert (patients[0], orders[0]) == (Patient.objects.count(), Order.objects.count())
    assert audits[0] >= AuditRecord.objects.filter(seq__isnull=False).count() > 0
    # restoring again into the same (now full) database is refused, not merged
    with pytest.raises(CommandError, match="pg_restore failed"):
        call_command("ris_restore", str(backup.path), database_url=new_database, archive_dir=tmp_path / "again")


@pytest.mark.django_db(transaction=True)
def test_a_damaged_backup_is_refused(new_database: str, tmp_path: Path) -> None:
    backup = backup_create(backup_dir=tmp_path)
    dump = backup.path / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(CommandError, match=r"database\.dump is damaged"):
        call_command("ris_restore", str(backup.path), database_url=new_database, archive_dir=tmp_path / "a")


@pytest.mark.django_db
def test_old_backups_are_pruned_and_others_kept(tmp_path: Path, settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump needs PostgreSQL")
    (tmp_path / "20200101-020000").mkdir()
    (tmp_path / "keep-me").mkdir()
    backup = backup_create(backup_dir=tmp_path, keep_days=14)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([backup.path.name, "keep-me", "last-backup.json"])


def test_the_quick_starts_sqlite_backup_restores(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env |= {"MWL_VAR_DIR": str(tmp_path / "var"), "DJANGO_SUPERUSER_PASSWORD": "a-long-enough-password-2026"}

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    manage("migrate", "--no-input", "-v0")
    manage("createsuperuser", "--no-input", "--username", "itadmin", "--email", "it@example.org")
    manage("audit_verify")
    written = manage("ris_backup")
    assert "backup written:" in written
    folder = next(p for p in (tmp_path / "var" / "backups").iterdir() if p.is_dir())
    out = manage(
        "ris_restore",
        str(folder),
        "--database-url",
        f"sqlite:///{tmp_path / 'restored.sqlite3'}",
        "--archive-dir",
        str(tmp_path / "restored-archive"),
    )
    assert "row counts match the backup" in out
    assert "User 1" in out
    assert "audit chain OK" in out


@pytest.mark.django_db(transaction=True)
def test_an_archive_that_reaches_outside_its_folder_is_refused(new_database: str, tmp_path: Path) -> None:
    import hashlib
    import io
    import json
    import tarfile

    backup = backup_create(backup_dir=tmp_path / "backups")
    archive = backup.path / "audit-archive.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        evil = tarfile.TarInfo("audit/../../evil.txt")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    manifest = json.loads((backup.path / "manifest.json").read_text())
    manifest["sha256"]["audit-archive.tar.gz"] = hashlib.sha256(archive.read_bytes()).hexdigest()
    (backup.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match=re.escape("unexpected entry in the archive: audit/../../evil.txt")):
        call_command("ris_restore", str(backup.path), database_url=new_database, archive_dir=tmp_path / "restored")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.django_db(transaction=True)
def test_a_backup_leaves_out_a_sites_publication_and_grants(new_database: str, tmp_path: Path) -> None:
    """A centre with edge nodes (docs/edge.md): its publications and the grants to their replication
    users name roles of this cluster; in a backup they would break a restore on a new server (or, for
    a subscription, start replicating). The restore is clean; the sites are published again after it."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE PUBLICATION ris_site_test FOR TABLE worklist_worklistitem WHERE (site_code = 'TEST')")
        cursor.execute("GRANT SELECT ON worklist_worklistitem TO PUBLIC")
    try:
        backup = backup_create(backup_dir=tmp_path / "backups")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP PUBLICATION ris_site_test")
            cursor.execute("REVOKE SELECT ON worklist_worklistitem FROM PUBLIC")
    listing = subprocess.run(
        ["pg_restore", "--list", str(backup.path / "database.dump")], capture_output=True, text=True, check=True
    ).stdout
    assert "PUBLICATION" not in listing
    assert " ACL " not in listing
    call_command("ris_restore", str(backup.path), database_url=new_database, archive_dir=tmp_path / "archive")
    with psycopg.connect(new_database) as restored:
        assert restored.execute("SELECT count(*) FROM pg_publication").fetchone() == (0,)
