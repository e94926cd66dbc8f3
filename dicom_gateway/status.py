"""DICOM status codes used by the gateway (PS3.4 C.4.1.1.4 and PS3.7 Annex C)."""

from __future__ import annotations

SUCCESS = 0x0000
PENDING = 0xFF00  # matches continuing, all optional keys supported
PENDING_WARNING = 0xFF01  # matches continuing, one or more optional keys not supported
CANCELLED = 0xFE00  # matching terminated due to cancel
OUT_OF_RESOURCES = 0xA700  # refused: out of resources (too many matches for this station)
IDENTIFIER_INVALID = 0xA900  # failed: identifier does not match SOP class
UNABLE_TO_PROCESS = 0xC000  # failed: unable to process (worklist database unavailable)

# N-CREATE / N-SET (PS3.7 Annex C; PS3.4 F.7.2 for the MPPS-specific one)
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110  # MPPS: "Performed Procedure Step object may no longer be updated"
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_SOP_INSTANCE = 0x0112
MISSING_ATTRIBUTE = 0x0120
