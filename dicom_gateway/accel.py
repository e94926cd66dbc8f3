"""Everything the gateway does around pynetdicom's internals for speed, in
one place behind one switch (``MWL_ACCEL``, default on).

On: C-FIND responses are encoded straight to bytes (fastencode.py) and leave
as one PDU each with cached command sets, many PDUs per socket write
(dimse.py), association threads wait for work instead of polling
(wakeups.py), and cached responses reuse their encoded bytes (the encode
wrapper below), and a cached query plan's SQL is compiled once (compiled.py,
Django's compiler internals, used only with the Django series it was written
for). Off: the gateway uses pynetdicom's and Django's public APIs only, slower
and otherwise the same (the gateway's tests run both ways in CI).

Each of these depends on internals of the pynetdicom version pinned in
requirements.txt (``TESTED_PYNETDICOM``). With another version they are not
installed and the gateway runs as with the switch off, saying so in its log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pynetdicom
from django.conf import settings
from pynetdicom import service_class as pynetdicom_service_class
from pynetdicom.transport import RequestHandler

from dicom_gateway import wakeups
from dicom_gateway.encoding import EncodedDataset, PreEncodedResponse

if TYPE_CHECKING:
    from pynetdicom.events import Event

    from dicom_gateway.dimse import FindWriter

logger = logging.getLogger(__name__)
TESTED_PYNETDICOM = "3.0.4"


def wanted() -> bool:
    """The switch, and whether this pynetdicom is the one the shortcuts were written for."""
    if not settings.MWL_ACCEL:
        return False
    if pynetdicom.__version__ != TESTED_PYNETDICOM:
        logger.warning(
            "MWL_ACCEL: pynetdicom %s is not the tested %s; running on its public API only",
            pynetdicom.__version__,
            TESTED_PYNETDICOM,
        )
        return False
    return True


def install() -> bool:
    """Install the shortcuts (idempotent) if wanted; True when they are on."""
    if not wanted():
        return False
    wakeups.enable()
    install_encode_cache()
    return True


def request_handler(enabled: bool) -> type[RequestHandler] | None:
    """The request handler for the association server: pynetdicom's own when off."""
    if not enabled:
        return None
    from dicom_gateway.dimse import GatewayRequestHandler

    return GatewayRequestHandler


def find_writer(event: Event) -> FindWriter | None:
    """A dimse.FindWriter for this C-FIND (pending responses written many per
    socket write), or None where pynetdicom must send them itself."""
    from dicom_gateway.dimse import FindWriter

    return FindWriter.for_event(event)


def install_encode_cache() -> None:
    """pynetdicom has no hook for pre-encoded identifiers: its C-FIND SCP calls
    the module function service_class.encode for every response. Wrap it so
    our EncodedDataset responses reuse their bytes and PreEncodedResponses are
    encoded by fastencode; anything else is encoded as before."""
    original = pynetdicom_service_class.encode
    if getattr(original, "mwl_cached", False):
        return

    def encode(ds: Any, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False) -> bytes | None:
        if isinstance(ds, EncodedDataset | PreEncodedResponse):
            return ds.encoded((is_implicit_vr, is_little_endian, deflated), original)
        return original(ds, is_implicit_vr, is_little_endian, deflated)

    encode.mwl_cached = True  # type: ignore[attr-defined]
    pynetdicom_service_class.encode = encode
