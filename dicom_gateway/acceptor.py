"""The listening socket: pynetdicom's threaded server with TCP_NODELAY,
optional SO_REUSEPORT (several gateway processes on one port), a garbage
collection at most once a minute, admission.py's caps applied to a
connection before pynetdicom makes an association of it, and on the TLS port
the TLS handshake on the connection's own thread.

pynetdicom's own ``ssl_context`` does the handshake in the accept loop: one
client that connects and sends nothing would stop every other connection
from being accepted. Here the accept loop only accepts; each connection's
thread does its handshake, within the same ``request_timeout`` as its
A-ASSOCIATE-RQ."""

from __future__ import annotations

import gc
import socket
import socketserver
import ssl
import time
from collections.abc import Callable
from typing import Any

from pynetdicom.transport import ThreadedAssociationServer

from dicom_gateway.admission import Admission, await_associate_request, read_associate_request


class PrefixedSSLSocket(ssl.SSLSocket):
    """An SSLSocket that first gives back bytes already read from it (the
    A-ASSOCIATE-RQ that read_associate_request checked), then reads on.
    ``pending()`` counts them, as pynetdicom asks it whether data is there."""

    prefix = b""

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if self.prefix:
            data, self.prefix = self.prefix[:buflen], self.prefix[buflen:]
            return data
        return super().recv(buflen, flags)

    def pending(self) -> int:
        return len(self.prefix) + super().pending()


class NoDelayServer(ThreadedAssociationServer):
    """Sets TCP_NODELAY on every accepted socket: without it each response
    waits for the peer's delayed ACK (Nagle), tens of ms per exchange. With
    ``reuse_port``, several worker processes listen on the same port and the
    kernel spreads the associations over them (pynetdicom is bound by the GIL)."""

    reuse_port = False
    nodelay = True
    COLLECT_EVERY = 60.0  # seconds between full garbage collections
    admission: Admission
    on_refused: Callable[[str, int, str], None]
    tls: ssl.SSLContext | None = None  # the TLS port's context (mwl_ris.lib.tls.server_context)

    def service_actions(self) -> None:
        """pynetdicom runs a full ``gc.collect()`` every 60th pass of the accept
        loop, because finished associations sit in reference cycles. Here it
        runs at most once a minute: memory stays bounded the same way, and the
        collection no longer stalls one association in sixty."""
        now = time.monotonic()
        if now - getattr(self, "_collected_at", 0.0) >= self.COLLECT_EVERY:
            self._collected_at = now
            gc.collect()

    def shutdown(self) -> None:
        """Stop serving and close the socket (pynetdicom's shutdown also expects
        the server in the AE's private list, which make_server does not do)."""
        socketserver.TCPServer.shutdown(self)
        self.server_close()

    def server_bind(self) -> None:
        if self.reuse_port and self.socket is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client_socket, address = super().get_request()
        if self.nodelay:
            client_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client_socket, address

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """A new connection: refused at once (closed) over the pending caps."""
        why = self.admission.admit_connection(client_address[0])
        if why:
            self.on_refused(client_address[0], client_address[1], why)
        return not why

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """On the connection's own thread: the TLS handshake on the TLS port,
        then wait for its whole A-ASSOCIATE-RQ (admission.py) before pynetdicom
        makes an association of it."""
        try:
            if self.tls is None:
                why = await_associate_request(request, self.admission.limits)
            else:
                request, why = self._tls_accept(request)
        finally:
            self.admission.connection_done(client_address[0])
        if why:
            self.on_refused(client_address[0], client_address[1], why)
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)

    def _tls_accept(self, raw: socket.socket) -> tuple[socket.socket, str]:
        """The handshake and the A-ASSOCIATE-RQ, both by the request deadline:
        (the TLS socket, '') or (the socket to close, why)."""
        assert self.tls is not None
        limits = self.admission.limits
        deadline = time.monotonic() + limits.request_timeout
        raw.settimeout(limits.request_timeout)
        try:
            tls = self.tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError) as exc:
            return raw, f"TLS: {type(exc).__name__}"
        try:
            tls.do_handshake()
        except TimeoutError:
            return tls, f"TLS handshake not done within {limits.request_timeout:g} s"
        except ssl.SSLError as exc:
            why = (exc.reason or "").replace("_", " ").lower() or exc.strerror or type(exc).__name__
            return tls, f"TLS handshake failed: {why}"
        except OSError as exc:
            return tls, f"TLS handshake failed: {type(exc).__name__}"
        why, request = read_associate_request(tls, limits, deadline)
        if why:
            return tls, why
        assert isinstance(tls, PrefixedSSLSocket)
        tls.prefix = request
        tls.settimeout(None)  # as pynetdicom has a plain socket: it reads only what select() says is there
        return tls, ""
