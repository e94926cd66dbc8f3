"""A database user who rewrites the audit trail with SQL, without the HMAC key
(which lives in a file outside the database): every way the issue names is
found by audit_verify, which names the first bad record and says what it
cannot see."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditRecord, ChainHead
from audit.services import HEADS_FILE, audit_record, audit_seal, audit_verify, canonical, record_row

pytestmark = [pytest.mark.django_db, pytest.mark.audit_unchecked]


def write(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit_record("note", summary=f"event {i}", patient_id=f"P{i}")


def sealed(n: int = 6) -> list[AuditRecord]:
    write(n)
    audit_seal()
    return list(AuditRecord.objects.order_by("seq"))


def plain_sha256(row: dict[str, Any], keep_mac: bool = True) -> str:
    """What a database user can compute: SHA-256 of the record as exported."""
    data = canonical(row if keep_mac else {**row, "key_id": "", "mac": ""})
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def sql(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def rehash_from(seq: int, *, strip_keys: bool = False) -> None:
    """Recompute every hash from ``seq`` on with plain SHA-256 (the attack that passed before)."""
    rows = list(AuditRecord.objects.order_by("seq"))
    previous = rows[seq - 2].hash if seq > 1 else "0" * 64
    for record in rows[seq - 1 :]:
        row = record_row(record)
        row["prev_hash"] = previous
        if strip_keys:
            row["key_id"] = row["mac"] = ""
        previous = plain_sha256(row, keep_mac=not strip_keys)
        sql(
            "UPDATE audit_auditrecord SET prev_hash = %s, hash = %s, key_id = %s, mac = %s WHERE id = %s",
            [row["prev_hash"], previous, row["key_id"], row["mac"], record.pk],
        )
    sql("UPDATE audit_chainhead SET last_hash = %s WHERE id = 1", [previous])


def test_an_intact_trail_verifies_and_says_what_it_cannot_see(capsys: pytest.CaptureFixture[str]) -> None:
    sealed()
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "audit chain OK: 6 records verified" in out
    assert "records after the last exported chain head (#6" in out
    assert "anyone holding the HMAC key could rewrite the trail" in out


def test_each_record_carries_a_mac_made_when_it_was_written() -> None:
    write(1)
    record = AuditRecord.objects.get()
    assert record.seq is None
    assert len(record.key_id) == 16
    assert len(record.mac) == 64


def test_an_edit_with_every_later_hash_recomputed_is_found_at_the_edited_record() -> None:
    records = sealed()
    victim = records[2]
    sql("UPDATE audit_auditrecord SET actor = 'nobody' WHERE id = %s", [victim.pk])
    rehash_from(victim.seq or 0)
    result = audit_verify()
    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_id) == (victim.seq, victim.pk)
    assert "MAC does not match" in result.detail


def test_a_trail_rewritten_without_macs_is_found_by_the_exported_heads() -> None:
    records = sealed()
    sql("UPDATE audit_auditrecord SET summary = 'nothing happened' WHERE id = %s", [records[0].pk])
    rehash_from(1, strip_keys=True)  # every record made to look older than the key
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == records[-1].seq  # the seq the last exported head names
    assert "not the one in the chain head exported at" in result.detail


def test_a_record_without_a_mac_after_records_with_one_is_found() -> None:
    records = sealed()
    victim = records[3]
    sql("UPDATE audit_auditrecord SET key_id = '', mac = '' WHERE id = %s", [victim.pk])
    rehash_from(victim.seq or 0, strip_keys=False)
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == victim.seq
    assert "has no MAC after records with one" in result.detail


def test_a_deleted_record_with_the_chain_renumbered_and_rehashed_is_found() -> None:
    records = sealed()
    victim = records[2]
    sql("DELETE FROM audit_auditrecord WHERE id = %s", [victim.pk])
    for record in records[3:]:
        sql("UPDATE audit_auditrecord SET seq = %s WHERE id = %s", [(record.seq or 0) - 1, record.pk])
    sql("UPDATE audit_chainhead SET last_seq = last_seq - 1 WHERE id = 1", [])
    rehash_from(victim.seq or 0)
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == victim.seq  # the record now numbered #3 is not the one sealed as #3


def test_a_truncated_tail_with_the_head_row_rewound_is_found() -> None:
    records = sealed()
    keep = records[3]
    sql("DELETE FROM audit_auditrecord WHERE seq > %s", [keep.seq])
    sql("UPDATE audit_chainhead SET last_seq = %s, last_hash = %s WHERE id = 1", [keep.seq, keep.hash])
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == (keep.seq or 0) + 1
    assert f"records #{(keep.seq or 0) + 1}..#6 are missing" in result.detail
    assert "the newest records were deleted" in result.detail


def test_a_record_edited_before_it_was_sealed_is_found() -> None:
    write(3)
    victim = AuditRecord.objects.order_by("id")[1]
    sql("UPDATE audit_auditrecord SET patient_id = 'P999' WHERE id = %s", [victim.pk])
    result = audit_verify()
    assert not result.ok
    assert f"unsealed record id {victim.pk} was changed" in result.detail
    audit_seal()
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_id == victim.pk


def test_heads_go_to_the_archive_folder_and_the_log(audit_archive: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="audit"):
        records = sealed(3)
    lines = [json.loads(line) for line in (audit_archive / HEADS_FILE).read_text().splitlines()]
    assert lines[-1]["seq"] == 3
    assert lines[-1]["hash"] == records[-1].hash
    assert f"audit chain head seq=3 hash={records[-1].hash}" in caplog.text
    # a forged line (no valid MAC) is ignored, and said so
    with (audit_archive / HEADS_FILE).open("a") as handle:
        handle.write(json.dumps({**lines[-1], "seq": 99}) + "\n")
    result = audit_verify()
    assert result.ok
    assert "1 line(s) of chain-heads.jsonl did not verify and were ignored" in result.detail


def test_after_a_key_rotation_old_records_verify_with_the_old_key(tmp_path: Path, settings: Any) -> None:
    old_key = tmp_path / "audit-hmac-2026.key"
    old_key.write_text("11" * 32)
    settings.AUDIT_HMAC_KEY_FILE = str(old_key)
    sealed(3)
    new_key = tmp_path / "audit-hmac-2027.key"
    new_key.write_text("22" * 32)
    settings.AUDIT_HMAC_KEY_FILE = str(new_key)
    settings.AUDIT_HMAC_OLD_KEY_FILES = [str(old_key)]
    write(2, start=3)
    audit_seal()
    assert AuditRecord.objects.values("key_id").distinct().count() == 2
    assert audit_verify().ok
    settings.AUDIT_HMAC_OLD_KEY_FILES = []
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == 1
    assert "AUDIT_HMAC_OLD_KEY_FILES" in result.detail
    assert ChainHead.objects.get().last_seq == 5
