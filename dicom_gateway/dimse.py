"""A cheaper way out for C-FIND responses.

pynetdicom builds every response message from scratch: a new command-set
Dataset (six elements, its group length computed by encoding it twice), then
one P-DATA for the command and one for the identifier, each a separate trip
through its network thread and a separate TCP segment. A day list of 68 items
spent more time there than in everything else the gateway does (profiled with
py-spy: ``send_msg`` was two thirds of the C-FIND thread's time).

Every pending response of a query has the same command set (message ID, SOP
class, status), and so has every final response of a modality's repeated poll:
each is encoded once per process and reused. The command and
the identifier go out together in one P-DATA-TF PDU with two PDV items when
they fit the peer's maximum PDU length (PS3.8 9.3.5: a P-DATA-TF carries one or
more PDVs; PS3.8 E.2: a message's command fragments come before its data set
fragments, which they still do). Anything else (other messages, responses
larger than the peer's PDU, a handler bound to EVT_DIMSE_SENT) goes through
pynetdicom unchanged. pynetdicom has no hook for this, hence a subclass of its
DIMSE provider installed by the request handler that creates associations.
"""

from __future__ import annotations

import socket
from io import BytesIO
from typing import Any, cast

from pynetdicom import evt
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationServer, RequestHandler

from dicom_gateway import wakeups

PDV_OVERHEAD = 6  # item length (4), presentation context ID (1), message control header (1)
COMMAND_LAST_FRAGMENT = b"\x03"
DATASET_LAST_FRAGMENT = b"\x02"


COMMAND_SETS_MAX = 256
# Encoded C-FIND-RSP command sets, by everything that goes into one: shared by
# all associations (modalities mostly use message ID 1, so the pending and the
# final response of a day list are encoded once per process, not per query).
_command_sets: dict[tuple[Any, ...], bytes] = {}


def _command_set(primitive: C_FIND) -> bytes:
    key = (
        primitive.MessageID,
        primitive.MessageIDBeingRespondedTo,
        primitive.AffectedSOPClassUID,
        primitive.Status,
        primitive.Identifier is not None,  # Command Data Set Type
    )
    command = _command_sets.get(key)
    if command is None:
        message = C_FIND_RSP()
        message.primitive_to_message(primitive)
        command = encode(message.command_set, True, True) or b""
        if len(_command_sets) >= COMMAND_SETS_MAX:
            _command_sets.clear()
        _command_sets[key] = command
    return command


class GatewayDIMSE(DIMSEServiceProvider):
    """The association's DIMSE provider, with C-FIND responses sent as one
    PDU each and their command sets encoded once (see the module's text).
    While a FindWriter holds pending responses, the response pynetdicom sends
    next (the final one, a failure or a cancel) joins them in one write."""

    find_writer: FindWriter | None = None

    def send_msg(self, primitive: Any, context_id: int) -> None:
        writer, self.find_writer = self.find_writer, None
        if (
            not isinstance(primitive, C_FIND)
            or primitive.MessageIDBeingRespondedTo is None
            or primitive.ErrorComment is not None
            or primitive.OffendingElement is not None
            or self.assoc.get_handlers(evt.EVT_DIMSE_SENT)
        ):
            if writer is not None:
                writer.flush()
            super().send_msg(primitive, context_id)  # requests, failures with details, other services
            return
        command = _command_set(primitive)
        identifier = primitive.Identifier.getvalue() if primitive.Identifier is not None else None
        size = len(command) + PDV_OVERHEAD + (len(identifier) + PDV_OVERHEAD if identifier is not None else 0)
        max_pdu = self.maximum_pdu_size
        if max_pdu and size > max_pdu:
            if writer is not None:
                writer.flush()
            super().send_msg(primitive, context_id)
            return
        if writer is not None and writer.buffer:
            writer.buffer += pdata_tf(context_id, command, identifier)
            writer.flush()  # the last pending responses and this one, in one write
            return
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, COMMAND_LAST_FRAGMENT + command))
        if identifier is not None:
            pdata.presentation_data_value_list.append((context_id, DATASET_LAST_FRAGMENT + identifier))
        self.dul.send_pdu(pdata)


def pdata_tf(context_id: int, command: bytes, identifier: bytes | None) -> bytes:
    """A P-DATA-TF PDU (PS3.8 9.3.5) with the command and, when there is one,
    the data set, each in one PDV marked as the last fragment."""
    length = PDV_OVERHEAD + len(command) + (PDV_OVERHEAD + len(identifier) if identifier is not None else 0)
    pdu = bytearray(PDATA_TF)
    pdu += length.to_bytes(4, "big")
    pdu += (len(command) + 2).to_bytes(4, "big")
    pdu += bytes((context_id,)) + COMMAND_LAST_FRAGMENT + command
    if identifier is not None:
        pdu += (len(identifier) + 2).to_bytes(4, "big")
        pdu += bytes((context_id,)) + DATASET_LAST_FRAGMENT + identifier
    return bytes(pdu)


PDATA_TF = b"\x04\x00"
FLUSH_BYTES = 256 * 1024  # write pending responses in chunks of about this size
# The association socket's send buffer while a FindWriter writes (Linux doubles
# it): a large answer waits for the modality to read instead of piling up in
# the kernel, so a C-CANCEL is seen while there is still something to stop,
# as when pynetdicom's own queue held the responses.
SEND_BUFFER_BYTES = 512 * 1024


class FindWriter:
    """Pending C-FIND responses written to the socket by the association's own
    thread, many PDUs per write, instead of one trip each through pynetdicom's
    C-FIND loop and its network thread (about 70 µs per response, measured:
    10,000 cached responses took 0.7 to 0.9 s; DCMTK wlmscpfs sends them in 0.6).

    Each response is still its own P-DATA-TF PDU with two PDVs (command, then
    identifier), exactly as GatewayDIMSE.send_msg sends it; only the number of
    socket writes changes. Used only while nothing else is queued for the
    network thread and no handler watches sent messages, PDUs or data. The
    final response (or a failure or cancel) is still made by pynetdicom and
    joins the last buffered responses in one write (GatewayDIMSE.send_msg);
    anything larger than the peer's maximum PDU goes through pynetdicom, which
    fragments it, after the buffer has been written, so the order stays."""

    def __init__(self, assoc: Any, context_id: int, message_id: int, sop_class: str, transfer_syntax: Any) -> None:
        self.assoc, self.context_id = assoc, context_id
        self.message_id, self.sop_class = message_id, sop_class
        self.syntax = (transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian, transfer_syntax.is_deflated)
        self.max_pdu = assoc.dimse.maximum_pdu_size or 0
        self.buffer = bytearray()
        self.buffered = 0  # responses in the buffer
        self.written = 0  # responses written to the socket
        self._commands: dict[int, bytes] = {}
        raw = getattr(assoc.dul.socket, "socket", None)
        if raw is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    @classmethod
    def for_event(cls, event: Event) -> FindWriter | None:
        assoc = event.assoc
        watched = (evt.EVT_DIMSE_SENT, evt.EVT_PDU_SENT, evt.EVT_DATA_SENT)
        if not isinstance(assoc.dimse, GatewayDIMSE) or any(assoc.get_handlers(e) for e in watched):
            return None
        if not assoc.dul.to_provider_queue.empty():
            return None
        request = cast(C_FIND, event.request)  # EVT_C_FIND carries a C-FIND request
        if request.MessageID is None or request.AffectedSOPClassUID is None:
            return None  # pynetdicom refuses such a request before the handler runs
        return cls(
            assoc,
            event.context.context_id,
            request.MessageID,
            request.AffectedSOPClassUID,
            event.context.transfer_syntax,
        )

    def _command(self, code: int) -> bytes:
        command = self._commands.get(code)
        if command is None:
            primitive = C_FIND()
            primitive.MessageIDBeingRespondedTo = self.message_id
            primitive.AffectedSOPClassUID = self.sop_class
            primitive.Status = code
            primitive.Identifier = BytesIO(b"\x00")  # a data set follows (Command Data Set Type)
            command = self._commands[code] = _command_set(primitive)
        return command

    def add(self, code: int, response: Any) -> bool:
        """Buffer one pending response; False when it must go through pynetdicom
        (the buffer is written first, so the order stays)."""
        identifier = response.encoded(self.syntax, encode)
        if identifier is None:
            self.flush()
            return False
        command = self._command(code)
        if self.max_pdu and 2 * PDV_OVERHEAD + len(command) + len(identifier) > self.max_pdu:
            self.flush()
            return False
        self.buffer += pdata_tf(self.context_id, command, identifier)
        self.buffered += 1
        if len(self.buffer) >= FLUSH_BYTES:
            self.flush()
        else:
            self.assoc.dimse.find_writer = self  # the next response pynetdicom sends takes the rest along
        return True

    def flush(self) -> None:
        if self.assoc.dimse.find_writer is self:
            self.assoc.dimse.find_writer = None
        if self.buffer and self.assoc.is_established:
            self.assoc.dul.socket.send(bytes(self.buffer))  # AssociationSocket.send: all of it, or Evt17
            self.written += self.buffered
        self.buffer.clear()
        self.buffered = 0

    def discard(self) -> int:
        """After a C-CANCEL: the responses not written yet are dropped (the
        cancel answer follows what the modality already has). How many."""
        if self.assoc.dimse.find_writer is self:
            self.assoc.dimse.find_writer = None
        dropped = self.buffered
        self.buffer.clear()
        self.buffered = 0
        return dropped


class GatewayRequestHandler(RequestHandler):
    """Creates each accepted association with the gateway's DIMSE provider,
    and threads that wait for work instead of polling (wakeups.py)."""

    server: AssociationServer

    def _create_association(self) -> Any:
        assoc = super()._create_association()
        assoc.dimse = GatewayDIMSE(assoc)
        wakeups.install(assoc)
        return assoc
