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

from typing import Any

from pynetdicom import evt
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
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
    PDU each and their command sets encoded once (see the module's text)."""

    def send_msg(self, primitive: Any, context_id: int) -> None:
        if (
            not isinstance(primitive, C_FIND)
            or primitive.MessageIDBeingRespondedTo is None
            or primitive.ErrorComment is not None
            or primitive.OffendingElement is not None
            or self.assoc.get_handlers(evt.EVT_DIMSE_SENT)
        ):
            super().send_msg(primitive, context_id)  # requests, failures with details, other services
            return
        command = _command_set(primitive)
        identifier = primitive.Identifier.getvalue() if primitive.Identifier is not None else None
        size = len(command) + PDV_OVERHEAD + (len(identifier) + PDV_OVERHEAD if identifier is not None else 0)
        max_pdu = self.maximum_pdu_size
        if max_pdu and size > max_pdu:
            super().send_msg(primitive, context_id)
            return
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, COMMAND_LAST_FRAGMENT + command))
        if identifier is not None:
            pdata.presentation_data_value_list.append((context_id, DATASET_LAST_FRAGMENT + identifier))
        self.dul.send_pdu(pdata)


class GatewayRequestHandler(RequestHandler):
    """Creates each accepted association with the gateway's DIMSE provider,
    and threads that wait for work instead of polling (wakeups.py)."""

    server: AssociationServer

    def _create_association(self) -> Any:
        assoc = super()._create_association()
        assoc.dimse = GatewayDIMSE(assoc)
        wakeups.install(assoc)
        return assoc
