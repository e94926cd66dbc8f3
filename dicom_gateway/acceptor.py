"""The listening socket: pynetdicom's threaded server with TCP_NODELAY,
optional SO_REUSEPORT (several gateway processes on one port), a garbage
collection at most once a minute, and admission.py's caps applied to a
connection before pynetdicom makes an association of it."""

from __future__ import annotations

import gc
import socket
import socketserver
import time
from collections.abc import Callable
from typing import Any

from pynetdicom.transport import ThreadedAssociationServer

from dicom_gateway.admission import Admission, await_associate_request


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
        """On the connection's own thread: wait for its whole A-ASSOCIATE-RQ
        (admission.py) before pynetdicom makes an association of it."""
        try:
            why = await_associate_request(request, self.admission.limits)
        finally:
            self.admission.connection_done(client_address[0])
        if why:
            self.on_refused(client_address[0], client_address[1], why)
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)
