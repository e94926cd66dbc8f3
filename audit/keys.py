"""The audit trail's HMAC key, kept outside the database.

A database user can edit rows and recompute plain hashes; without this key
they cannot compute the MACs (written with each record) or the keyed chain
hashes (written at sealing), so ``audit_verify`` finds what they changed.

``AUDIT_HMAC_KEY_FILE`` holds the current key (created, 32 random bytes in
hex, readable by the service user only, the first time it is needed);
``AUDIT_HMAC_OLD_KEY_FILES`` the keys of earlier years after a rotation, so
their records still verify. Each record names its key by ``key_id``, a digest
of the key that says nothing about it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path

from django.conf import settings

logger = logging.getLogger("audit")


class AuditKeyError(RuntimeError):
    """The key file cannot be read or created."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"mwl-ris audit key id:" + key).hexdigest()[:16]


def _read(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"the audit HMAC key {path} cannot be read: {exc}") from exc
    if len(key) < 32:
        raise AuditKeyError(f"the audit HMAC key {path} is shorter than 32 bytes")
    return key


def _read_or_create(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            logger.warning("audit HMAC key created at %s: back it up apart from the database (docs/security.md)", path)
    return _read(path)


@lru_cache(maxsize=8)
def _keyring(current: str, old: tuple[str, ...]) -> tuple[str, dict[str, bytes]]:
    key = _read_or_create(Path(current))
    ring = {_key_id(key): key}
    for name in old:
        old_key = _read(Path(name))
        ring[_key_id(old_key)] = old_key
    return _key_id(key), ring


def keyring() -> tuple[str, dict[str, bytes]]:
    """The current key's ID, and every known key by ID."""
    return _keyring(str(settings.AUDIT_HMAC_KEY_FILE), tuple(settings.AUDIT_HMAC_OLD_KEY_FILES))


def current_key_id() -> str:
    return keyring()[0]


def mac(key_id: str, payload: bytes) -> str | None:
    """HMAC-SHA256 of ``payload`` with the key ``key_id`` (None: that key is not known here)."""
    key = keyring()[1].get(key_id)
    if key is None:
        return None
    return hmac.new(key, payload, hashlib.sha256).hexdigest()
