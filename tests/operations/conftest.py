"""The gateway's and the HL7 listener's in-process fixtures, for the operations tests."""

from tests.dicom_gateway.conftest import empty_response_cache, gateway, live_worklist  # noqa: F401
from tests.hl7_interface.conftest import listener  # noqa: F401
