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
KEEP_FACTOR = 8  # how much of an oversized frame is kept for review, in multiples of the limit


@dataclass
class Frame:
    data: bytes
    problem: str = ""  # empty for a complete, well-framed message
    size: int = 0  # bytes received for this frame (more than data when oversized)
    closed: bool = False  # the peer closed the connection: no reply possible


async def read_frames(
    reader: asyncio.StreamReader, *, max_bytes: int, frame_timeout: float, idle_timeout: float | None = None
) -> AsyncIterator[Frame]:
    """Yield the frames a connection sends, in order, until it closes.

    A frame must be complete within ``frame_timeout`` seconds of its first
    byte (a sender that drips bytes does not hold the connection for ever);
    with nothing in progress, the connection ends after ``idle_timeout``
    seconds without data. A frame over ``max_bytes`` is refused; it is kept
    whole up to eight times that (for review), and beyond that cut, which the
    refusal says."""
    keep = max_bytes * KEEP_FACTOR
    buffer = bytearray()
    in_frame = False
    size = 0
    frame_deadline: float | None = None
    loop = asyncio.get_running_loop()
    while True:
        if in_frame or buffer:
            frame_deadline = frame_deadline or loop.time() + frame_timeout
            timeout: float | None = max(frame_deadline - loop.time(), 0)
        else:
            frame_deadline, timeout = None, idle_timeout
        try:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=timeout)
        except TimeoutError:
            if not (in_frame or buffer):
                return  # idle: the caller closes the connection
            problem = "truncated MLLP frame: no end of block" if in_frame else "data outside an MLLP block"
            yield Frame(bytes(buffer), f"{problem} within {frame_timeout:g} s{_kept(size, keep)}", size)
            buffer.clear()
            in_frame, size, frame_deadline = False, 0, None
            continue
        if not chunk:
            if buffer.strip():
                problem = "truncated MLLP frame: the connection closed" if in_frame else "data outside an MLLP block"
                yield Frame(bytes(buffer), problem + _kept(size, keep), size, closed=True)
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
                in_frame, size, frame_deadline = True, 0, None
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
                problem = "truncated MLLP frame: a new frame began before <FS><CR>" + _kept(size, keep)
                yield Frame(bytes(buffer), problem, size)
                buffer.clear()
                chunk = chunk[restart:]
                in_frame, frame_deadline = False, None
                continue
            if end is None:
                size += len(chunk)
                buffer += chunk[: max(keep - len(buffer), 0)]
                break
            if end == -1:  # <FS> was the buffer's last byte (if it was kept)
                if len(buffer) >= size:
                    del buffer[-1:]
                size -= 1
                rest = chunk[1:]
            else:
                part = chunk[:end]
                size += len(part)
                buffer += part[: max(keep - len(buffer), 0)]
                rest = chunk[end + 2 :]
            problem = (
                f"message of {size} bytes exceeds the limit of {max_bytes} bytes (HL7_MAX_MESSAGE_BYTES)"
                + _kept(size, keep)
                if size > max_bytes
                else ""
            )
            yield Frame(bytes(buffer), problem, size)
            buffer.clear()
            in_frame, size, frame_deadline = False, 0, None
            chunk = rest


def _kept(size: int, keep: int) -> str:
    return f"; only its first {keep} bytes are kept" if size > keep else ""
