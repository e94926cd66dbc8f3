"""Writing, sealing, verifying, exporting and pruning the audit trail.

Why a sealer instead of chaining at insert: chaining each record to the
previous one when it is written would make every transaction in the RIS (and
every C-FIND) wait for one lock until it commits. Records are instead inserted
with the change they describe (same transaction: nothing recorded that was
rolled back, nothing changed without a record), and ``audit_seal`` chains them
in insertion order every few seconds (Celery beat) under one lock. From then on
any edit or deletion breaks the chain. Hashing is SHA-256 over a canonical
JSON form of the record; no library does this chain for Django models.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from audit import keys
from audit.context import current_actor
from audit.models import AuditExport, AuditRecord, ChainHead, Verification
from mwl_ris.lib.validation import full_clean_or_raise

M = TypeVar("M", bound=Model)
logger = logging.getLogger("audit")

GENESIS = "0" * 64
HASHED_FIELDS = (
    "at",
    "interface",
    "actor",
    "role",
    "ip",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "ae_title",
    "summary",
    "before",
    "after",
)


def jsonable(value: Any) -> Any:
    """Dates, decimals, UUIDs… as JSON-native values (what the JSON column returns)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _content(row: dict[str, Any]) -> dict[str, Any]:
    data = {name: row[name] for name in HASHED_FIELDS}
    at = data["at"]
    data["at"] = at.astimezone(dt.UTC).isoformat() if isinstance(at, dt.datetime) else at
    return data


def _payload(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical(row: dict[str, Any]) -> dict[str, Any]:
    """The record as hashed and exported: every hashed field, its MAC (when it
    has one) and its place in the chain."""
    data = _content(row)
    if row.get("key_id"):
        data["key_id"], data["mac"] = row["key_id"], row["mac"]
    data["seq"] = row["seq"]
    data["prev_hash"] = row["prev_hash"]
    return data


def record_mac(row: dict[str, Any]) -> str | None:
    """The MAC of a record's content with its key (None: the key is not known here)."""
    return keys.mac(row["key_id"], b"record:" + _payload(_content(row)))


def record_hash(row: dict[str, Any]) -> str:
    """The chain hash: HMAC-SHA256 with the record's key, so that a database
    user cannot recompute it; plain SHA-256 for records written before the
    key existed. '' when the record's key is not known here."""
    payload = _payload(canonical(row))
    if row.get("key_id"):
        return keys.mac(row["key_id"], b"chain:" + payload) or ""
    return hashlib.sha256(payload).hexdigest()


def record_row(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in (*HASHED_FIELDS, "key_id", "mac", "seq", "prev_hash", "hash", "id")}


def _stamp(record: AuditRecord) -> AuditRecord:
    """The MAC of the record as written, before it reaches the database: an
    edit in the seconds before it is sealed is found too."""
    record.key_id = keys.current_key_id()
    record.mac = record_mac(record_row(record)) or ""
    return record


# --- writing ------------------------------------------------------------------


# Bookkeeping columns that change on every save and say nothing (and the password hash).
IGNORED_FIELDS = frozenset({"updated_at", "created_at", "password", "last_login", "name_search"})


def audit_snapshot(instance: Model) -> dict[str, Any]:
    """A row's values as the trail keeps them: every concrete column but the bookkeeping ones."""
    return {
        f.attname: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if f.attname not in IGNORED_FIELDS
    }


def audit_stored(instance: Model) -> dict[str, Any] | None:
    """The snapshot of ``instance``'s row as stored now (None for a new row): the
    ``before`` of an update, taken before the caller saves (the admin and the
    API hand over rows with the new values already set)."""
    stored = type(instance)._default_manager.filter(pk=instance.pk).first() if instance.pk is not None else None
    return audit_snapshot(stored) if stored is not None else None


def audit_record(
    action: str,
    *,
    instance: Model | None = None,
    object_type: str = "",
    object_id: Any = "",
    patient_id: str = "",
    ae_title: str = "",
    summary: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
    **who: str,
) -> AuditRecord | None:
    """Append one record, in the caller's transaction, attributed to the current
    actor (audit.context) unless ``interface``/``actor``/``role``/``ip`` are given.
    The one way the RIS writes its trail: services call it for what they change.

    With ``instance`` (a row the caller just wrote), the type, ID and summary
    come from it, and the values from ``audit_snapshot``: a "create" keeps the
    row as saved, a "delete" the row as it was, and an "update" only the
    columns that differ from ``before`` (the snapshot taken before the change);
    an update that changed nothing writes no record and returns None."""
    if not settings.AUDIT_ENABLED:
        return None
    if instance is not None:
        object_type = object_type or instance._meta.label
        object_id = object_id or instance.pk
        summary = summary or str(instance)
        if action == "create" and after is None:
            after = audit_snapshot(instance)
        elif action == "delete" and before is None:
            before = audit_snapshot(instance)
        elif action == "update" and before is not None and after is None:
            now = audit_snapshot(instance)
            keys = [k for k in now if k in before and jsonable(before[k]) != jsonable(now[k])]
            if not keys:
                return None
            before, after = {k: before[k] for k in keys}, {k: now[k] for k in keys}
    actor = current_actor()
    record = AuditRecord(
        at=at or timezone.now(),
        interface=who.get("interface", actor.interface),
        actor=who.get("actor", actor.actor)[:150],
        role=who.get("role", actor.role)[:64],
        ip=who.get("ip", actor.ip)[:64],
        action=action[:32],
        object_type=object_type[:64],
        object_id=str(object_id)[:64],
        patient_id=(patient_id or "")[:64],
        ae_title=(ae_title or "")[:16],
        summary=summary[:300],
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
    )
    _stamp(record).save()
    return record


def audited_save(
    instance: M,
    changes: Mapping[str, Any] | None = None,
    *,
    before: dict[str, Any] | None = None,
    exclude: Iterable[str] | None = None,
    patient_id: str = "",
) -> M:
    """The write of one plain row, the same in every service: apply ``changes``,
    validate (every field's error at once), save, and record it — "create" for a
    new row, else "update" with the columns that differ from ``before`` (by
    default the row as stored)."""
    adding = instance._state.adding
    if not adding and before is None:
        before = audit_stored(instance)
    for name, value in (changes or {}).items():
        setattr(instance, name, value)
    full_clean_or_raise(instance, exclude=exclude)
    instance.save()
    audit_record("create" if adding else "update", instance=instance, before=before, patient_id=patient_id)
    return instance


def audit_records_bulk(records: Iterable[AuditRecord]) -> int:
    """Append many records in one INSERT (the DICOM gateway's background recorder);
    their ``before``/``after`` must already be JSON-native."""
    if not settings.AUDIT_ENABLED:
        return 0
    created = AuditRecord.objects.bulk_create([_stamp(record) for record in records])
    return len(created)


# --- sealing ------------------------------------------------------------------


def audit_seal(*, batch: int = 5000) -> int:
    """Chain the records written since the last run. Safe to run in parallel
    (the chain head row is locked) and twice (sealed rows are not touched)."""
    sealed = 0
    while True:
        with transaction.atomic():
            head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
            rows = list(AuditRecord.objects.filter(seq__isnull=True).order_by("id")[:batch])
            if not rows:
                return sealed
            seq, previous = head.last_seq, head.last_hash or GENESIS
            for record in rows:
                seq += 1
                record.seq, record.prev_hash = seq, previous
                record.hash = previous = record_hash(record_row(record))
            AuditRecord.objects.bulk_update(rows, ["seq", "prev_hash", "hash"])
            head.last_seq, head.last_hash = seq, previous
            head.save()
            sealed += len(rows)
        head_export(seq, previous)
        if len(rows) < batch:
            return sealed


HEADS_FILE = "chain-heads.jsonl"


def head_export(seq: int, hash_: str) -> None:
    """Write the chain head outside the database: a line appended to the
    archive folder's chain-heads.jsonl (with a MAC) and a line in the log. A
    database user who deletes the newest records and rewinds the head row
    cannot rewind these; ``audit_verify`` compares the chain with them."""
    at = timezone.now().astimezone(dt.UTC).isoformat()
    key_id = keys.current_key_id()
    line = {"seq": seq, "hash": hash_, "at": at, "key_id": key_id}
    line["mac"] = keys.mac(key_id, b"head:" + _payload(line)) or ""
    logger.info("audit chain head seq=%d hash=%s at=%s", seq, hash_, at)
    path = _archive_dir() / HEADS_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:  # the records are sealed; the head is in the log line above; say what is wrong
        logger.exception("audit chain head #%d could not be written to %s", seq, path)


def exported_heads() -> tuple[dict[int, dict[str, Any]], int]:
    """The chain heads written outside the database, by sequence number, and
    how many lines did not verify (not written by the RIS with a known key)."""
    heads: dict[int, dict[str, Any]] = {}
    bad = 0
    path = _archive_dir() / HEADS_FILE
    if not path.exists():
        return heads, bad
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            try:
                line = json.loads(text)
                claimed = line.pop("mac")
                good = keys.mac(line["key_id"], b"head:" + _payload(line)) == claimed
            except (ValueError, KeyError, TypeError):
                good = False
            if not good:
                bad += 1
                continue
            heads[int(line["seq"])] = line
    return heads, bad


# --- verifying ----------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    first_broken_id: int | None = None
    detail: str = ""


def _anchor() -> tuple[int, str]:
    """Where the chain in the database starts: after the last pruned export, or at the beginning."""
    pruned = AuditExport.objects.filter(pruned_at__isnull=False).order_by("-last_seq").first()
    if pruned is None or pruned.last_seq is None:
        return 0, GENESIS
    return pruned.last_seq, pruned.last_hash


def _sealed_rows(batch: int) -> Iterator[AuditRecord]:
    last = None
    while True:
        qs = AuditRecord.objects.filter(seq__isnull=False).order_by("seq")
        if last is not None:
            qs = qs.filter(seq__gt=last)
        chunk = list(qs[:batch])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq


def audit_verify(*, batch: int = 10_000, save: bool = True) -> VerifyResult:
    """Walk the sealed chain in order and name the first record that does not
    fit: edited (its MAC or hash no longer matches), deleted (a gap in the
    sequence), re-chained (a wrong previous hash), rewritten (it differs from a
    chain head exported outside the database) or cut off at the end (the head
    row or an exported head points past the last record). Records not yet
    sealed are checked against their MACs. The detail of a clean result says
    what could still go unseen."""
    expected_seq, expected_prev = _anchor()
    heads, bad_heads = exported_heads()
    checked = 0
    keyed_seen = False
    result: VerifyResult | None = None

    def broken(seq: int | None, pk: int | None, detail: str) -> VerifyResult:
        return VerifyResult(False, checked, seq, pk, detail)

    for record in _sealed_rows(batch):
        expected_seq += 1
        row = record_row(record)
        if record.seq != expected_seq:
            result = broken(expected_seq, record.pk, f"record #{expected_seq} is missing (deleted)")
        elif record.key_id and record_mac(row) is None:
            result = broken(
                record.seq,
                record.pk,
                f"record #{record.seq} has key {record.key_id}, not known here "
                "(add the old key to AUDIT_HMAC_OLD_KEY_FILES)",
            )
        elif record.key_id and record_mac(row) != record.mac:
            result = broken(
                record.seq, record.pk, f"record #{record.seq} (id {record.pk}) was changed: its MAC does not match"
            )
        elif not record.key_id and keyed_seen:
            result = broken(
                record.seq, record.pk, f"record #{record.seq} (id {record.pk}) has no MAC after records with one"
            )
        elif record.prev_hash != expected_prev:
            result = broken(record.seq, record.pk, f"record #{record.seq} does not follow #{record.seq - 1}")
        elif record_hash(row) != record.hash:
            result = broken(record.seq, record.pk, f"record #{record.seq} (id {record.pk}) was changed")
        elif record.seq in heads and heads[record.seq]["hash"] != record.hash:
            at = heads[record.seq]["at"]
            result = broken(
                record.seq,
                record.pk,
                f"record #{record.seq} (id {record.pk}) is not the one in the chain head exported at {at}: "
                "the chain was rewritten",
            )
        if result is not None:
            break
        keyed_seen = keyed_seen or bool(record.key_id)
        expected_prev = record.hash
        checked += 1
    if result is None:
        head = ChainHead.objects.filter(pk=1).first()
        last_exported = max(heads) if heads else 0
        if head is not None and head.last_seq > expected_seq:
            result = broken(expected_seq + 1, None, f"records #{expected_seq + 1}..#{head.last_seq} are missing")
        elif last_exported > expected_seq:
            at = heads[last_exported]["at"]
            result = broken(
                expected_seq + 1,
                None,
                f"records #{expected_seq + 1}..#{last_exported} are missing: the chain head exported at {at} "
                f"reached #{last_exported} (the newest records were deleted)",
            )
    if result is None:
        for record in AuditRecord.objects.filter(seq__isnull=True, key_id__gt="").order_by("id").iterator():
            if record_mac(record_row(record)) != record.mac:
                result = broken(None, record.pk, f"unsealed record id {record.pk} was changed: its MAC does not match")
                break
    if result is None:
        limits = (
            f"records after the last exported chain head (#{max(heads)} at {heads[max(heads)]['at']}) "
            "could be deleted unseen until the next export"
            if heads
            else "no chain head exported yet: deleting the newest records would go unseen"
        )
        detail = f"{checked} records verified; {limits}; anyone holding the HMAC key could rewrite the trail"
        if bad_heads:
            detail += f"; {bad_heads} line(s) of {HEADS_FILE} did not verify and were ignored"
        result = VerifyResult(True, checked, detail=detail)
    if save:
        Verification.objects.create(
            ok=result.ok, checked=result.checked, first_broken_seq=result.first_broken_seq, detail=result.detail
        )
    return result


# --- exporting and pruning -------------------------------------------------------


def _archive_dir() -> Path:
    return Path(settings.AUDIT_ARCHIVE_DIR)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=timezone.get_current_timezone())


def _write_atomically(path: Path, lines: Iterable[str]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    digest = hashlib.sha256()
    with open(temporary, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
            for line in lines:
                handle.write(line.encode() + b"\n")
        raw.flush()
        os.fsync(raw.fileno())
    data = temporary.read_bytes()
    digest.update(data)
    os.replace(temporary, path)
    return digest.hexdigest()


def audit_export_closed_days(*, today: dt.date | None = None) -> list[AuditExport]:
    """Write every closed day (before today, local time) not yet exported to
    ``AUDIT_ARCHIVE_DIR/<year>/audit-<day>.jsonl.gz``. A day's file holds the
    stretch of the sealed chain that follows the previous day's file up to the
    last record written before the next midnight, so the files chain too.
    Idempotent: a day already exported is skipped; a half-written file is never
    left (written aside, then renamed)."""
    today = today or timezone.localdate()
    audit_seal()
    done: list[AuditExport] = []
    with transaction.atomic():
        # one exporter at a time
        ChainHead.objects.select_for_update().get_or_create(pk=1)
        previous = AuditExport.objects.order_by("-day").first()
        first_record = AuditRecord.objects.filter(seq__isnull=False).order_by("seq").first()
        if previous is not None:
            day = previous.day + dt.timedelta(days=1)
            after_seq = previous.last_seq or 0
            prev_hash = previous.last_hash or GENESIS
        elif first_record is not None:
            day = timezone.localtime(first_record.at).date()
            after_seq, prev_hash = (first_record.seq or 1) - 1, first_record.prev_hash
        else:
            return done
        while day < today:
            boundary = _midnight(day + dt.timedelta(days=1))
            # the contiguous run of sealed records after the last file, written before the boundary
            late = (
                AuditRecord.objects.filter(seq__gt=after_seq, at__gte=boundary)
                .order_by("seq")
                .values_list("seq", flat=True)
                .first()
            )
            unsealed = AuditRecord.objects.filter(seq__isnull=True, at__lt=boundary).exists()
            if unsealed:
                break  # a record of that day is still being sealed; next run
            stretch = AuditRecord.objects.filter(seq__gt=after_seq).order_by("seq")
            if late is not None:
                stretch = stretch.filter(seq__lt=late)
            records = list(stretch)
            rows = [record_row(r) for r in records]
            path = _archive_dir() / f"{day:%Y}" / f"audit-{day:%Y-%m-%d}.jsonl.gz"
            lines = (
                json.dumps({**canonical(row), "hash": row["hash"]}, sort_keys=True, ensure_ascii=False) for row in rows
            )
            sha = _write_atomically(path, lines)
            export = AuditExport.objects.create(
                day=day,
                path=str(path),
                count=len(rows),
                first_seq=rows[0]["seq"] if rows else None,
                last_seq=rows[-1]["seq"] if rows else after_seq,
                first_prev_hash=rows[0]["prev_hash"] if rows else prev_hash,
                last_hash=rows[-1]["hash"] if rows else prev_hash,
                sha256=sha,
            )
            done.append(export)
            if rows:
                after_seq, prev_hash = rows[-1]["seq"], rows[-1]["hash"]
            day += dt.timedelta(days=1)
    return done


def audit_export_check(export: AuditExport) -> str:
    """Why the archive file of ``export`` cannot be trusted ("" when it can):
    missing, a different file, or its records not chaining and hashing."""
    path = Path(export.path)
    if not path.exists():
        return f"{path} is missing"
    if hashlib.sha256(path.read_bytes()).hexdigest() != export.sha256:
        return f"{path} is not the file that was written (SHA-256 differs)"
    previous, count = export.first_prev_hash, 0
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["prev_hash"] != previous or record_hash(row) != row["hash"]:
                return f"{path}: record #{row['seq']} does not verify"
            previous = row["hash"]
            count += 1
    if count != export.count or previous != export.last_hash:
        return f"{path} holds {count} records, the export recorded {export.count}"
    return ""


def audit_prune(*, retention_days: int | None = None, today: dt.date | None = None) -> int:
    """Delete from the database the records of exported days older than the
    retention, oldest first, and only when the chain verifies and the archive
    file re-reads to the same records and hashes. Returns the records deleted."""
    retention = settings.AUDIT_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = (today or timezone.localdate()) - dt.timedelta(days=retention)
    due = list(AuditExport.objects.filter(pruned_at__isnull=True, day__lt=cutoff).order_by("day"))
    if not due:
        return 0
    verified = audit_verify()
    if not verified.ok:
        return 0
    deleted = 0
    for export in due:
        problem = audit_export_check(export)
        if problem:
            Verification.objects.create(ok=False, checked=0, detail=f"prune stopped: {problem}")
            break
        with transaction.atomic():
            if export.first_seq is not None:
                # QuerySet.delete() does not call AuditRecord.delete(): pruning is the one way rows leave.
                count, _ = AuditRecord.objects.filter(seq__gte=export.first_seq, seq__lte=export.last_seq).delete()
                deleted += count
            AuditExport.objects.filter(pk=export.pk).update(pruned_at=timezone.now())
    return deleted
