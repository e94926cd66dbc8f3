"""A local append-only journal of what the gateway answered, so that no
answered query goes unaudited across a crash.

Every record (a C-FIND's query and outcome, an association refused) is one
JSON line appended with a single ``write()`` before the modality gets the
final response: the kernel keeps it across ``kill -9`` of the process. The
recorder ships the journal to PostgreSQL in batches and stores how far it got
(``RecorderJournal.shipped_offset``) in the same transaction as the rows, so
each record reaches the database exactly once. A gateway that starts finds
the journals of processes that died (their lock is free) and ships what
they had not.

Hand-written because no library does this small thing: a write-ahead log of
a few hundred bytes per query, a file and an offset."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom.uid import UID

logger = logging.getLogger(__name__)
SUFFIX = ".jsonl"


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):  # the identifier: (bytes, transfer syntax UID)
        return {"$t": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$dt" in value:
            return dt.datetime.fromisoformat(value["$dt"])
        if "$b" in value:
            return base64.b64decode(value["$b"])
        if "$t" in value:
            data, syntax = (_decode(v) for v in value["$t"])
            return (data, UID(syntax))
        return {k: _decode(v) for k, v in value.items()}
    return value


def encode_line(kind: str, row: dict[str, Any]) -> bytes:
    return json.dumps({"kind": kind, "row": _encode(row)}, separators=(",", ":")).encode() + b"\n"


def decode_line(line: bytes) -> tuple[str, dict[str, Any]]:
    item = json.loads(line)
    return item["kind"], _decode(item["row"])


class Journal:
    """This process's journal file, locked for as long as the process lives."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"gateway-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._offset = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.path.name

    def append(self, kind: str, row: dict[str, Any]) -> int:
        """Write one record; returns the file offset just past it."""
        line = encode_line(kind, row)
        with self._lock:
            os.write(self._fd, line)
            self._offset += len(line)
            return self._offset

    def close(self, *, remove: bool) -> None:
        if self._fd < 0:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)  # releases the lock
        self._fd = -1


def orphaned(directory: Path) -> Iterator[tuple[Path, int]]:
    """Journals no living process holds, each with an fd holding its lock
    (the caller closes it): the process that wrote it died."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"gateway-*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # a running gateway's
            continue
        yield path, fd


def read_from(fd: int, offset: int) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(offset past the record, kind, row) for each complete record after ``offset``;
    a last line cut short by the crash is left out."""
    with os.fdopen(os.dup(fd), "rb") as handle:
        handle.seek(offset)
        position = offset
        for line in handle:
            if not line.endswith(b"\n"):
                logger.warning("journal ends with an incomplete record (%d bytes); left out", len(line))
                return
            position += len(line)
            try:
                kind, row = decode_line(line)
            except (ValueError, KeyError, TypeError):
                logger.error("journal record at offset %d cannot be read; skipped", position - len(line))
                continue
            yield position, kind, row
