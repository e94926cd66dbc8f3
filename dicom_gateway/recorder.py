"""The gateway's records of what it answered: captured queries, association
records and their audit rows, written off the response path.

The association threads append each record to the process's journal
(journal.py: one ``write()``, before the final response); this module's
thread reads the journal back and writes what it finds in batches, one INSERT
per table, together with how far it got. Under load the cost per query falls
(this thread shares the GIL with the associations), nothing is dropped when
the database is slow or down (the journal waits), and a crash loses nothing
(the next start ships the rest). One bad row (a value PostgreSQL refuses)
never costs the others theirs: the batch is retried row by row and only the
offender is left out, logged without patient data."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from pynetdicom.dsutils import decode

from audit.models import AuditRecord, Interface
from audit.services import audit_records_bulk
from dicom_gateway import journal
from dicom_gateway.models import AssociationOutcome, AssociationRecord, CapturedQuery, RecorderJournal
from monitoring.metrics import ASSOCIATIONS, association_reason
from mwl_ris.lib.cache import LruCache
from mwl_ris.lib.db import deadline

logger = logging.getLogger(__name__)
Item = tuple[str, dict[str, Any]]


def _clean(value: Any) -> Any:
    """PostgreSQL stores no NUL character in text or JSON: replace it."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _identifier_json(encoded: tuple[bytes, Any]) -> dict[str, Any]:
    """The captured query as DICOM JSON, decoded here in the recorder's
    thread (the C-FIND itself may not have decoded it: see find.PLAN_CACHE)."""
    data, transfer_syntax = encoded
    try:
        identifier = decode(
            BytesIO(data), transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian, transfer_syntax.is_deflated
        )
        return _clean(dict(identifier.to_json_dict())) if identifier is not None else {}
    except Exception:  # noqa: BLE001 - capture is best effort
        return {}


class QueryRecorder:
    PRUNE_EVERY = 500  # association records between two deletions by age
    BATCH = 500
    GATHER_SECONDS = 1.0
    JSON_MEMO = 256  # identifiers whose DICOM JSON is kept: a modality repeats its poll
    ROTATE_BYTES = 64 * 1024 * 1024  # a journal this large, all shipped, is replaced by a new one

    def __init__(self, *, keep_per_ae: int, association_days: int = 90, journal_dir: Path | None = None):
        self.keep_per_ae = keep_per_ae
        self.association_days = association_days
        self.journal_dir = journal_dir or Path(settings.MWL_JOURNAL_DIR)
        self.journal = journal.Journal(self.journal_dir)
        self._written_associations = 0
        self._json_memo: LruCache[tuple[bytes, Any], dict[str, Any]] = LruCache(self.JSON_MEMO)
        self._appended = 0  # offset past the last record appended to the current journal
        self._shipped = 0  # offset past the last record in the database
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="mwl-query-recorder", daemon=True)
        self._thread.start()

    # --- the association threads' side ----------------------------------------

    def record(self, **row: Any) -> None:
        self._append("query", row)

    def record_association(self, **row: Any) -> None:
        ASSOCIATIONS.labels(outcome=row["outcome"], reason=association_reason(row.get("reason", ""))).inc()
        self._append("association", row)

    def record_audit(self, **row: Any) -> None:
        """An audit record the gateway could not write in its own transaction
        (an MPPS refused because the database was down)."""
        self._append("audit", row)

    def _append(self, kind: str, row: dict[str, Any]) -> None:
        with self._changed:
            self._appended = self.journal.append(kind, row)
            self._changed.notify()

    def flush(self, timeout: float = 30) -> None:
        """Wait until everything appended so far is in the database."""
        deadline = time.monotonic() + timeout
        with self._changed:
            target, path = self._appended, self.journal.path
            while self.journal.path == path and self._shipped < target and time.monotonic() < deadline:
                self._changed.wait(0.05)

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(timeout=10)

    # --- the recorder's thread -----------------------------------------------------

    def _run(self) -> None:
        try:
            self._ship_orphans()
        except Exception:
            logger.exception("could not ship the journals of an earlier gateway process")
            connection.close()
        fd = os.open(self.journal.path, os.O_RDONLY | os.O_CLOEXEC)
        while True:
            with self._changed:
                while self._appended == self._shipped and not self._stopping:
                    self._changed.wait()
                stopping = self._stopping
            if not stopping:
                # Gather for a moment: a modality's queries come in bursts, and writing
                # while associations run slows them (the writes share the GIL and the
                # cores with them); one batch a second costs them far less than a few
                # INSERTs per query.
                time.sleep(self.GATHER_SECONDS)
            try:
                self._ship(fd, self.journal.name, self._shipped)
                fd = self._rotate_if_shipped(fd)
            except DatabaseError:
                logger.exception("could not write gateway records; they wait in %s", self.journal.path)
                connection.close()
                if not stopping:
                    time.sleep(1.0)
            if stopping:
                self._close(fd)
                return

    def _close(self, fd: int) -> None:
        with self._changed:
            done = self._shipped >= self._appended
        self.journal.close(remove=done)
        os.close(fd)
        try:
            if done:
                RecorderJournal.objects.filter(name=self.journal.name).delete()
        except DatabaseError:
            logger.exception("could not remove the record of a shipped journal")
        connection.close()  # this thread's connection ends with it

    def _ship(self, fd: int, name: str, cursor: int | None = None) -> int:
        """Write everything after offset ``cursor`` (None: the stored one) of journal
        ``name``; returns the new offset."""
        if cursor is None:
            cursor = RecorderJournal.objects.filter(name=name).values_list("shipped_offset", flat=True).first() or 0
        batch: list[Item] = []
        end = cursor
        for position, kind, row in journal.read_from(fd, cursor):
            batch.append((kind, row))
            end = position
            if len(batch) >= self.BATCH:
                self._shipped_to(name, end, batch)
                batch = []
        if batch:
            self._shipped_to(name, end, batch)
        return end

    def _shipped_to(self, name: str, end: int, batch: list[Item]) -> None:
        self._write(batch, name, end)
        if name == self.journal.name:
            with self._changed:
                self._shipped = end
                self._changed.notify_all()

    def _rotate_if_shipped(self, fd: int) -> int:
        with self._changed:
            if self._shipped < self.ROTATE_BYTES or self._shipped != self._appended:
                return fd
            old = self.journal
            self.journal = journal.Journal(self.journal_dir)
            self._appended = self._shipped = 0
        old.close(remove=True)
        RecorderJournal.objects.filter(name=old.name).delete()
        os.close(fd)
        return os.open(self.journal.path, os.O_RDONLY | os.O_CLOEXEC)

    def _ship_orphans(self) -> None:
        for path, fd in journal.orphaned(self.journal_dir):
            try:
                shipped = self._ship(fd, path.name)
                logger.info("shipped the journal of an earlier gateway process: %s (%d bytes)", path.name, shipped)
                path.unlink()
                RecorderJournal.objects.filter(name=path.name).delete()
            finally:
                os.close(fd)

    # --- writing --------------------------------------------------------------------

    def _write(self, items: list[Item], name: str, offset: int) -> None:
        """Write the rows of ``items`` and the journal offset, in one transaction;
        if that fails on a row, each item on its own, leaving out the ones that fail."""
        rows = [self._rows(kind, row) for kind, row in items]
        connection.ensure_connection()
        try:
            with deadline(30), transaction.atomic():
                self._insert(rows)
                RecorderJournal.objects.update_or_create(name=name, defaults={"shipped_offset": offset})
        except DatabaseError:
            if not connection.is_usable():
                raise  # the database is away: the journal keeps everything for later
            with transaction.atomic():
                for (kind, row), objects in zip(items, rows, strict=True):
                    try:
                        with transaction.atomic():
                            self._insert([objects])
                    except DatabaseError as exc:
                        logger.error(
                            "gateway %s record refused by the database and left out: %s (calling_ae=%s at=%s)",
                            kind,
                            type(exc.__cause__ or exc).__name__,
                            row.get("calling_ae_title", ""),
                            row.get("received_at") or row.get("at"),
                        )
                RecorderJournal.objects.update_or_create(name=name, defaults={"shipped_offset": offset})
        self._after_insert(rows)

    def _rows(self, kind: str, row: dict[str, Any]) -> dict[str, list[Any]]:
        row = dict(row)
        if kind == "query":
            identifier = row.pop("identifier", None)
            keys = _clean(row.pop("keys", ""))
            row = _clean(row)
            json_identifier = (
                self._json_memo.get_or_build(identifier, partial(_identifier_json, identifier)) if identifier else {}
            )
            return {
                "captured": [CapturedQuery(**row, identifier=json_identifier)],
                "audits": [self._audit_query(row, keys)],
            }
        row = _clean(row)
        if kind == "association":
            audits = [self._audit_association(row)] if row["outcome"] != AssociationOutcome.ACCEPTED else []
            return {"associations": [AssociationRecord(**row)], "audits": audits}
        return {"audits": [AuditRecord(**row)]}

    @staticmethod
    def _insert(rows: list[dict[str, list[Any]]]) -> None:
        captured = [obj for r in rows for obj in r.get("captured", [])]
        associations = [obj for r in rows for obj in r.get("associations", [])]
        audits = [obj for r in rows for obj in r.get("audits", [])]
        if captured:
            CapturedQuery.objects.bulk_create(captured)
        if associations:
            AssociationRecord.objects.bulk_create(associations)
        if audits and settings.AUDIT_ENABLED:
            audit_records_bulk(audits)

    def _after_insert(self, rows: list[dict[str, list[Any]]]) -> None:
        """Keep the newest captured queries per modality; prune association records by age."""
        for calling in {c.calling_ae_title for r in rows for c in r.get("captured", [])}:
            mine = CapturedQuery.objects.filter(calling_ae_title=calling)
            keep = list(mine.order_by("-received_at", "-pk").values_list("pk", flat=True)[: self.keep_per_ae])
            mine.exclude(pk__in=keep).delete()
        count = sum(len(r.get("associations", [])) for r in rows)
        if count:
            before = self._written_associations
            self._written_associations += count
            if before // self.PRUNE_EVERY != self._written_associations // self.PRUNE_EVERY or before == 0:
                cutoff = timezone.now() - dt.timedelta(days=self.association_days)
                AssociationRecord.objects.filter(at__lt=cutoff).delete()

    @staticmethod
    def _audit_query(row: dict[str, Any], keys: str) -> AuditRecord:
        return AuditRecord(
            at=row["received_at"],
            interface=Interface.DICOM,
            actor=row["calling_ae_title"],
            ip=row["peer"],
            action="c-find",
            object_type="dicom_gateway.CapturedQuery",
            ae_title=row["calling_ae_title"],
            summary=f"keys={keys or '-'} matches={row['matches']} status=0x{row['status']:04X} "
            f"ms={row['duration_ms']:.1f}"[:300],
            after={"matches": row["matches"], "status": row["status"], "ms": round(row["duration_ms"], 1)},
        )

    @staticmethod
    def _audit_association(row: dict[str, Any]) -> AuditRecord:
        return AuditRecord(
            at=row["at"],
            interface=Interface.DICOM,
            actor=row["calling_ae_title"],
            ip=row["peer"],
            action=f"association-{row['outcome']}"[:32],
            object_type="dicom_gateway.AssociationRecord",
            ae_title=row["calling_ae_title"],
            summary=f"called {row['called_ae_title']}: {row['reason']}"[:300],
        )
