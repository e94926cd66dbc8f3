"""Who gets a place on the gateway: limits that keep every registered
station served while anyone else on the network connects and says nothing.

Two stages, each with a total and a per-address cap:

* **pending**: a TCP connection whose A-ASSOCIATE-RQ has not fully arrived.
  It gets ``request_timeout`` seconds to send it; it holds no association
  slot meanwhile, and is dropped the moment the peer closes. It is checked
  here before pynetdicom sees it: the kernel reports the socket readable only
  once the whole PDU is there (``SO_RCVLOWAT``) or the peer has gone, so
  waiting costs no polling.
* **associated**: an A-ASSOCIATE-RQ from a known calling AE title. Only these
  count against ``max_associations``; ``max_per_peer`` of them per address
  keeps one host (a stuck modality, or a neighbour spoofing an AE title) from
  taking the places of the others.

pynetdicom counts every connection, complete request or not, against one
``maximum_associations``; that is what let 70 half-open connections lock
every modality out.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

logger = logging.getLogger(__name__)

A_ASSOCIATE_RQ = 0x01
PDU_HEADER = 6  # type, reserved, 4-byte length
# Source 2 (service provider), reason 2 (unexpected PDU): PS3.8 9.3.8
A_ABORT_UNEXPECTED = bytes([0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, 0x02])


@dataclass(frozen=True)
class Limits:
    max_associations: int = 64
    max_per_peer: int = 16
    max_pending: int = 128
    max_pending_per_peer: int = 8
    request_timeout: float = 5.0
    max_request_bytes: int = 32 * 1024  # an A-ASSOCIATE-RQ with 128 presentation contexts is ~13 KB


class Admission:
    """Counts pending connections per address (association counts come from
    pynetdicom's live list of associations)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()

    def admit_connection(self, ip: str) -> str:
        """'' to take the connection, else why not (it is closed at once)."""
        with self._lock:
            if sum(self._pending.values()) >= self.limits.max_pending:
                return f"more than {self.limits.max_pending} connections waiting for their A-ASSOCIATE-RQ"
            if self._pending[ip] >= self.limits.max_pending_per_peer:
                return f"more than {self.limits.max_pending_per_peer} connections from {ip} without an A-ASSOCIATE-RQ"
            self._pending[ip] += 1
            return ""

    def connection_done(self, ip: str) -> None:
        with self._lock:
            self._pending[ip] -= 1
            if self._pending[ip] <= 0:
                del self._pending[ip]

    def pending(self) -> int:
        with self._lock:
            return sum(self._pending.values())

    def admit_association(self, ip: str, established: list[str]) -> str:
        """'' to accept an association from ``ip``, given the addresses of the
        associations established now; else why not (-> A-ASSOCIATE-RJ)."""
        if len(established) >= self.limits.max_associations:
            return f"{self.limits.max_associations} associations already"
        if established.count(ip) >= self.limits.max_per_peer:
            return f"{self.limits.max_per_peer} associations from {ip} already"
        return ""


def _header_problem(data: bytes, limits: Limits) -> str:
    """'' when the first bytes of a connection start an acceptable A-ASSOCIATE-RQ."""
    if data[0] != A_ASSOCIATE_RQ:
        return f"first PDU is of type 0x{data[0]:02X}, not an A-ASSOCIATE-RQ"
    length = struct.unpack(">L", data[2:6])[0]
    if length > limits.max_request_bytes:
        return f"A-ASSOCIATE-RQ of {length} bytes (more than {limits.max_request_bytes})"
    return ""


def read_associate_request(sock: ssl.SSLSocket, limits: Limits, deadline: float) -> tuple[str, bytes]:
    """The TLS form of await_associate_request: the kernel cannot see inside
    TLS records (no peeking, no SO_RCVLOWAT), so the whole A-ASSOCIATE-RQ is
    read here, by ``deadline``: ('', its bytes) to give pynetdicom first, else
    (why it will not come, b'')."""
    data = bytearray()
    wanted = PDU_HEADER
    try:
        while len(data) < wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return f"no complete A-ASSOCIATE-RQ within {limits.request_timeout:g} s", b""
            sock.settimeout(remaining)
            chunk = sock.recv(wanted - len(data))
            if not chunk:
                return "closed by the peer before its A-ASSOCIATE-RQ", b""
            data += chunk
            if wanted == PDU_HEADER and len(data) == PDU_HEADER:
                why = _header_problem(bytes(data), limits)
                if why:
                    sock.sendall(A_ABORT_UNEXPECTED)
                    return why, b""
                wanted = PDU_HEADER + struct.unpack(">L", data[2:6])[0]
    except (OSError, ValueError) as exc:  # socket.timeout is an OSError
        if isinstance(exc, TimeoutError):
            return f"no complete A-ASSOCIATE-RQ within {limits.request_timeout:g} s", b""
        return f"connection error before the A-ASSOCIATE-RQ: {type(exc).__name__}", b""
    return "", bytes(data)


def await_associate_request(sock: socket.socket, limits: Limits) -> str:
    """Wait until a whole A-ASSOCIATE-RQ is in the socket's receive buffer
    (left there for pynetdicom to read): '' then, else why it will not come."""
    deadline = time.monotonic() + limits.request_timeout
    wanted = PDU_HEADER
    try:
        while True:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, wanted)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
                return f"no complete A-ASSOCIATE-RQ within {limits.request_timeout:g} s"
            data = sock.recv(wanted, socket.MSG_PEEK)
            if not data:
                return "closed by the peer before its A-ASSOCIATE-RQ"
            if data[0] != A_ASSOCIATE_RQ:
                sock.sendall(A_ABORT_UNEXPECTED)
                return _header_problem(data, limits)
            if len(data) < wanted:  # readable with less than SO_RCVLOWAT: the peer has closed
                return "closed by the peer with its A-ASSOCIATE-RQ incomplete"
            why = _header_problem(data, limits)
            if why:
                sock.sendall(A_ABORT_UNEXPECTED)
                return why
            length = struct.unpack(">L", data[2:6])[0]
            if wanted == PDU_HEADER + length:
                return ""
            wanted = PDU_HEADER + length
    except OSError as exc:
        return f"connection error before the A-ASSOCIATE-RQ: {type(exc).__name__}"
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
