"""The MLLP server: asyncio for the sockets, a thread pool for the database.

Each connection's messages are applied one after another, in the order they
arrived (an ADT before the ORM that follows it); connections run in
parallel. The ACK is written only after the service has committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.db import InterfaceError, OperationalError, close_old_connections, connections

from hl7_interface.framing import CR, EB, SB, Frame, read_frames
from hl7_interface.inbox import message_receive, message_reject
from monitoring.metrics import HL7_ACK, HL7_MESSAGES, message_type_label

logger = logging.getLogger(__name__)


def handle_frame(frame: Frame, peer: str) -> bytes | None:
    """Runs in a worker thread. None: nothing could be stored (the database is
    unavailable), send nothing: the sender resends once it is back."""
    close_old_connections()
    try:
        if frame.problem:
            return message_reject(raw=frame.data, peer=peer, reason=frame.problem)
        return message_receive(raw=frame.data, peer=peer)
    except (OperationalError, InterfaceError):  # the database is unavailable, not the message at fault
        logger.exception("HL7 message from %s could not be stored; no ACK sent (the sender will resend)", peer)
        return None
    except Exception as exc:  # a bug on some input: the message is still kept and refused, never left unanswered
        logger.exception("HL7 message from %s could not be processed; kept and refused", peer)
        try:
            return message_reject(raw=frame.data, peer=peer, reason=f"Internal error: {type(exc).__name__}")
        except Exception:
            logger.exception("HL7 message from %s could not be stored either; no ACK sent", peer)
            return None
    finally:
        close_old_connections()


_MSA_CODE = re.compile(rb"(?:^|\r)MSA\|(\w{2})")


def count_message(raw: bytes, ack: bytes | None, seconds: float) -> None:
    """/metrics: the message by its type (MSH-9) and the ACK code sent, and the time to the ACK."""
    message_type = ""
    if raw[:3] == b"MSH" and len(raw) > 3:
        fields = raw.split(b"\r", 1)[0].split(raw[3:4])
        message_type = fields[8].decode("ascii", "replace") if len(fields) > 8 else ""
    code = _MSA_CODE.search(ack) if ack else None
    HL7_MESSAGES.labels(
        message_type=message_type_label(message_type), ack_code=code.group(1).decode() if code else "none"
    ).inc()
    if ack is not None:
        HL7_ACK.observe(seconds)


class Listener:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        workers: int,
        max_bytes: int,
        frame_timeout: float,
        allowed_peers: frozenset[str] = frozenset(),
        idle_timeout: float = 300.0,
        max_connections: int = 64,
        max_connections_per_peer: int = 8,
        tls: ssl.SSLContext | None = None,
        tls_port: int = 0,
        plain: bool = True,
    ):
        """``port`` is the plain MLLP port (not opened when ``plain`` is
        false); with ``tls`` a second port, ``tls_port``, speaks MLLP inside
        TLS. Both share the connection limits and the worker threads."""
        self.host, self.port = host, port
        self.tls, self.tls_port, self.plain = tls, tls_port, plain
        self.allowed_peers = allowed_peers  # empty: any peer that reaches the port
        self.max_bytes, self.frame_timeout, self.idle_timeout = max_bytes, frame_timeout, idle_timeout
        self.max_connections, self.max_connections_per_peer = max_connections, max_connections_per_peer
        self.per_peer: Counter[str] = Counter()
        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl7")
        self.servers: list[asyncio.Server] = []
        self.connections = 0

    async def start(self) -> int:
        """Open the port(s); returns the plain port (0 when only TLS is open)."""
        if self.plain:
            server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
            self.port = server.sockets[0].getsockname()[1]
            self.servers.append(server)
        else:
            self.port = 0
        if self.tls is not None:
            server = await asyncio.start_server(self._serve_tls, self.host, self.tls_port, reuse_address=True)
            self.tls_port = server.sockets[0].getsockname()[1]
            self.servers.append(server)
        return self.port

    async def _serve_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, tls=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tls: bool = False) -> None:
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{peername[0]}:{peername[1]}"
        if self.allowed_peers and peername[0] not in self.allowed_peers:
            logger.warning("HL7 connection from %s refused: not in HL7_ALLOWED_PEERS", peer)
            writer.close()
            return
        if self.connections >= self.max_connections or self.per_peer[peername[0]] >= self.max_connections_per_peer:
            logger.warning(
                "HL7 connection from %s refused: %d connections open (%d from this address; limits %d and %d)",
                peer,
                self.connections,
                self.per_peer[peername[0]],
                self.max_connections,
                self.max_connections_per_peer,
            )
            writer.close()
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        self.per_peer[peername[0]] += 1
        loop = asyncio.get_running_loop()
        messages = 0
        started = time.monotonic()
        try:
            if tls:
                # The handshake here, not in start_server(ssl=...): the address
                # and connection limits are checked first, and a failed
                # handshake (plain client, unknown CA, no certificate) is logged,
                # which asyncio's own handshake only does in debug mode.
                assert self.tls is not None
                try:
                    await writer.start_tls(self.tls, ssl_handshake_timeout=self.frame_timeout)
                except (TimeoutError, ssl.SSLError, OSError) as exc:
                    logger.warning("HL7 TLS connection from %s refused: TLS handshake failed: %s", peer, exc)
                    return
                peer_cert = writer.get_extra_info("peercert") or {}
                subject = ",".join(f"{k}={v}" for rdn in peer_cert.get("subject", ()) for k, v in rdn)
                logger.info(
                    "HL7 connection from %s over %s, client certificate: %s",
                    peer,
                    writer.get_extra_info("ssl_object").version(),
                    subject or "none",
                )
            else:
                logger.info("HL7 connection from %s", peer)
            async for frame in read_frames(
                reader, max_bytes=self.max_bytes, frame_timeout=self.frame_timeout, idle_timeout=self.idle_timeout
            ):
                received = time.perf_counter()
                ack = await loop.run_in_executor(self.executor, handle_frame, frame, peer)
                count_message(frame.data, ack, time.perf_counter() - received)
                messages += 1
                if frame.closed:
                    break
                if ack is None:
                    break  # database unavailable: close so the sender retries
                writer.write(SB + ack + EB + CR)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            logger.info("HL7 connection from %s dropped", peer)
        finally:
            self.connections -= 1
            self.per_peer[peername[0]] -= 1
            if self.per_peer[peername[0]] <= 0:
                del self.per_peer[peername[0]]
            writer.close()
            logger.info(
                "HL7 connection from %s closed: %d messages in %.1f s", peer, messages, time.monotonic() - started
            )

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()
        # Close each worker thread's database connection (connections are
        # per thread): one task per worker, held at a barrier so each thread takes one.
        barrier = threading.Barrier(self.workers)

        def close_connection() -> None:
            connections.close_all()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)

        for _ in range(self.workers):
            self.executor.submit(close_connection)
        self.executor.shutdown(wait=True)


class ListenerThread:
    """The listener on its own event loop in a background thread (tests, embedding)."""

    def __init__(self, **kwargs: object):
        self.listener = Listener(**kwargs)  # type: ignore[arg-type]
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hl7-listener", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.listener.start())
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> int:
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("the HL7 listener did not start")
        return self.listener.port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
