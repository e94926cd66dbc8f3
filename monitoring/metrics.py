"""The Prometheus metrics of every process (prometheus_client), and how they are served.

Each process counts in its own memory; processes that fork workers (gunicorn, the gateway
with MWL_WORKERS > 1) count in files under PROMETHEUS_MULTIPROC_DIR instead, which
prometheus_client adds up when scraped (its multiprocess mode: set the variable to an empty
folder before the process starts; deploy/ and compose do). What the database knows (the
HL7 inbox and outbound queue, the Celery jobs, the audit sealer, the services' heartbeats)
is read at scrape time by operations.collectors, on the web's /metrics only."""

from __future__ import annotations

import ipaddress
import logging
import os
import re

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.registry import REGISTRY

logger = logging.getLogger(__name__)

# Seconds: a worklist answer is expected well under the SLA's 5 s, an update under 2 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Histogram(
    "ris_http_request_duration_seconds",
    "Web requests by view, method and status class, and how long each took to answer",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
CFIND = Histogram(
    "ris_cfind_duration_seconds",
    "Modality Worklist C-FINDs by calling AE title (registered stations; others as '(other)') and outcome "
    "(matched, empty, failed, cancelled), and how long each took to answer",
    ["calling_ae", "outcome"],
    buckets=LATENCY_BUCKETS,
)
CFIND_EMPTY = Counter(
    "ris_cfind_empty_results",
    "C-FINDs that were answered with no match, by calling AE title",
    ["calling_ae"],
)
ASSOCIATIONS = Counter(
    "ris_dicom_associations",
    "DICOM associations and connections by outcome (accepted, rejected, aborted) and reason",
    ["outcome", "reason"],
)
MPPS = Counter(
    "ris_mpps",
    "MPPS N-CREATE and N-SET by operation and outcome (success, refused, failed)",
    ["operation", "outcome"],
)
HL7_MESSAGES = Counter(
    "ris_hl7_messages",
    "HL7 v2 messages received by message type (MSH-9, e.g. ADT^A08) and the ACK code sent (none: no ACK)",
    ["message_type", "ack_code"],
)
HL7_ACK = Histogram(
    "ris_hl7_ack_duration_seconds",
    "From a complete HL7 frame to its ACK",
    buckets=LATENCY_BUCKETS,
)

# An association's reason, reduced to a few values (a label must not take one value per peer address).
_REASONS = (
    ("calling AE title not recognized", "calling AE title not recognized"),
    ("called AE title not recognized", "called AE title not recognized"),
    ("TLS required", "TLS required"),
    ("TLS handshake", "TLS handshake failed"),
    ("not its registered IP", "not its registered IP"),
    ("limit", "connection limit"),
    ("too many", "connection limit"),
    ("timeout", "timeout"),
    ("timed out", "timeout"),
)


def association_reason(reason: str) -> str:
    if not reason:
        return ""
    lowered = reason.lower()
    for needle, label in _REASONS:
        if needle.lower() in lowered:
            return label
    return "other"


_MESSAGE_TYPE = re.compile(r"^[A-Z0-9]{3}(\^[A-Z0-9]{3})?")


def message_type_label(message_type: str) -> str:
    """MSH-9's type and trigger event (ADT^A08), or 'unknown': never the sender's free text."""
    match = _MESSAGE_TYPE.match(message_type or "")
    return match.group(0) if match else "unknown"


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def scrape_registry() -> CollectorRegistry:
    """What a scrape of this process (or, in multiprocess mode, of all its siblings) shows."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def mark_process_dead(pid: int) -> None:
    """A worker that ended: its live gauges leave the sums (counters stay)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


def serve_metrics(port: int, bind: str, *, service: str) -> None:
    """/metrics of a non-web process on its own port (0: none). Protected by where it
    listens: METRICS_BIND (loopback by default) must be reachable by the monitoring server
    only; the port speaks plain HTTP and has no password (docs/operations.md)."""
    if not port:
        return
    if not _is_loopback(bind):
        logger.warning(
            "%s metrics on %s:%d: reachable beyond this host, firewall it (docs/operations.md)", service, bind, port
        )
    start_http_server(port, addr=bind, registry=scrape_registry())
    logger.info("%s metrics on http://%s:%d/metrics", service, bind, port)


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback
