"""Sending one HL7 message over MLLP and reading its ACK."""

from __future__ import annotations

import contextlib
import socket
import ssl

import hl7

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def mllp_exchange(host: str, port: int, text: str, timeout: float, tls: ssl.SSLContext | None = None) -> str:
    """Send one framed message and read the framed reply, inside TLS when
    ``tls`` is given (the server's certificate checked for ``host``). A plain
    socket with a timeout: python-hl7's MLLPClient has none and reads a single recv()."""
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket.create_connection((host, port), timeout=timeout))
        if tls is not None:
            sock = stack.enter_context(tls.wrap_socket(sock, server_hostname=host))
        sock.sendall(SB + text.encode("utf-8") + EB + CR)
        reply = bytearray()
        while not reply.endswith(EB + CR):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the destination closed the connection without an ACK")
            reply += chunk
    return bytes(reply).strip(SB + EB + CR + b"\n").decode("utf-8", errors="replace")


def ack_code(reply: str) -> tuple[str, str]:
    message = hl7.parse(reply.replace("\n", "\r"))
    msa = message.segment("MSA")
    text = str(msa(3)) if len(msa) > 3 else ""
    return str(msa(1)), text
