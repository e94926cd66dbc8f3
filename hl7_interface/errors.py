"""The two ways a message fails, and HL7 table 0357's error codes (ERR-3)
that say why: ``Rejected`` (ACK AR: the message cannot be read or is not
supported) and ``Unappliable`` (ACK AE: it was read, but a value is wrong)."""

from __future__ import annotations

# HL7 table 0357 (message error condition codes) used in ERR-3.
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
INTERNAL_ERROR = "207"

ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    INTERNAL_ERROR: "Application internal error",
}


class Rejected(Exception):
    """ACK AR: the message cannot be parsed or is not supported."""

    def __init__(self, message: str, *, code: str, location: str = ""):
        super().__init__(message)
        self.message, self.code, self.location = message, code, location


class Unappliable(Exception):
    """ACK AE: the message was read, but it cannot be applied."""

    def __init__(self, message: str, *, code: str, location: str = ""):
        super().__init__(message)
        self.message, self.code, self.location = message, code, location
