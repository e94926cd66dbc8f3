"""MLLP framing (HL7 v2 minimal lower layer protocol): <VT> message <FS><CR>.

Hand-written, on purpose: python-hl7's ``MLLPStreamReader.readblock`` drops
the bytes of an oversized frame and the partial frame at EOF, and raises on a
frame that lacks its start byte. The inbox must keep all of those (and answer
them with AR), so this reader reports them as frames with a ``problem``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
END = EB + CR


@dataclass
class Frame:
    data: bytes
    problem: str = ""  # empty for a complete, well-framed message
    size: int = 0  # bytes received for this frame (more than data when oversized)
    closed: bool = False  # the peer closed the connection: no reply possible


async def read_frames(reader: asyncio.StreamReader, *, max_bytes: int, idle_timeout: float) -> AsyncIterator[Frame]:
    """Yield the frames a connection sends, in order, until it closes."""
    keep = max_bytes * 8  # how much of an oversized frame is kept for review
    buffer = bytearray()
    in_frame = False
    size = 0
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=idle_timeout if (in_frame or buffer) else None)
        except TimeoutError:
            problem = "truncated MLLP frame: no end of block" if in_frame else "data outside an MLLP block"
            yield Frame(bytes(buffer), f"{problem} within {idle_timeout:g} s", size)
            buffer.clear()
            in_frame, size = False, 0
            continue
        if not chunk:
            if buffer.strip():
                problem = "truncated MLLP frame: the connection closed" if in_frame else "data outside an MLLP block"
                yield Frame(bytes(buffer), problem, size, closed=True)
            return
        while chunk:
            if not in_frame:
                start = chunk.find(SB)
                if start < 0:
                    if len(buffer) < keep:
                        buffer += chunk[: keep - len(buffer)]
                    break
                junk = buffer + chunk[:start]
                if junk.strip(b"\r\n \t\x00"):
                    yield Frame(bytes(junk), "data outside an MLLP block (no start byte <VT>)", len(junk))
                buffer.clear()
                chunk = chunk[start + 1 :]
                in_frame, size = True, 0
                continue
            # In a frame: look for its end, or a new start byte (the sender gave up on this one).
            # END's position in chunk; -1 when <FS> was the buffer's last byte and <CR> starts the chunk.
            found = (bytes(buffer[-1:]) + chunk).find(END) if buffer else chunk.find(END)
            end: int | None = None if found < 0 else (found - 1 if buffer else found)
            restart = chunk.find(SB)
            if restart >= 0 and (end is None or restart < end):
                part = chunk[:restart]
                size += len(part)
                buffer += part[: max(keep - len(buffer), 0)]
                yield Frame(bytes(buffer), "truncated MLLP frame: a new frame began before <FS><CR>", size)
                buffer.clear()
                chunk = chunk[restart:]
                in_frame = False
                continue
            if end is None:
                size += len(chunk)
                buffer += chunk[: max(keep - len(buffer), 0)]
                break
            if end == -1:  # <FS> was the buffer's last byte
                del buffer[-1:]
                size -= 1
                rest = chunk[1:]
            else:
                part = chunk[:end]
                size += len(part)
                buffer += part[: max(keep - len(buffer), 0)]
                rest = chunk[end + 2 :]
            problem = f"message of {size} bytes exceeds the limit of {max_bytes} bytes" if size > max_bytes else ""
            yield Frame(bytes(buffer), problem, size)
            buffer.clear()
            in_frame, size = False, 0
            chunk = rest
