"""A TCP proxy the tests control, to put between a process and PostgreSQL:
cut the link (every connection closed, the port refuses), restore it, or
freeze it (connections stay open and nothing passes: a database that does
not answer). Loopback only."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpProxy:
    def __init__(self, upstream: tuple[str, int], port: int = 0):
        self.upstream = upstream
        self.port = port
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._frozen = threading.Event()
        self._thawed = threading.Event()
        self._thawed.set()
        self._running = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()
        return self

    def cut(self) -> None:
        """Close the port and every connection through it."""
        self._running.clear()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            for a, b in self._pairs:
                for sock in (a, b):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self._pairs.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def restore(self) -> None:
        self.start()

    def freeze(self) -> None:
        self._thawed.clear()
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()
        self._thawed.set()

    def _run(self) -> None:
        assert self._listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        peers: dict[socket.socket, socket.socket] = {}
        try:
            while self._running.is_set():
                for key, _ in selector.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        client, _ = sock.accept()
                        try:
                            server = socket.create_connection(self.upstream, timeout=5)
                        except OSError:
                            client.close()
                            continue
                        with self._lock:
                            self._pairs.append((client, server))
                        peers[client], peers[server] = server, client
                        selector.register(client, selectors.EVENT_READ, None)
                        selector.register(server, selectors.EVENT_READ, None)
                        continue
                    if self._frozen.is_set():
                        continue  # nothing passes; data waits in the kernel
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    other = peers.get(sock)
                    if not data or other is None:
                        for s in (sock, other):
                            if s is not None:
                                with contextlib.suppress(KeyError, ValueError):
                                    selector.unregister(s)
                                peers.pop(s, None)
                                s.close()
                        continue
                    with contextlib.suppress(OSError):
                        other.sendall(data)
                if self._frozen.is_set():
                    self._thawed.wait(0.05)  # frozen: look again shortly, without spinning
        finally:
            selector.close()
