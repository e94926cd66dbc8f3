"""python manage.py mwl_gateway: the DICOM gateway process: C-ECHO, the Modality
Worklist SCP (C-FIND) and the MPPS SCP (N-CREATE, N-SET), on the plain port,
the TLS port (MWL_TLS_PORT) or both, in one or more worker processes."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import ssl
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from dicom_gateway.server import Gateway
from monitoring.heartbeat import Heartbeat
from monitoring.metrics import mark_process_dead, multiprocess_dir, serve_metrics
from mwl_ris.lib import tls
from mwl_ris.lib.db import set_statement_timeout

logger = logging.getLogger("dicom_gateway")


def gateway_tls_context() -> ssl.SSLContext | None:
    """The TLS port's context from the MWL_TLS_* settings (None: no TLS port)."""
    if not settings.MWL_TLS_PORT:
        return None
    try:
        return tls.service_server_context(
            service="mwl_gateway",
            port=settings.MWL_TLS_PORT,
            cert_file=settings.MWL_TLS_CERT_FILE,
            key_file=settings.MWL_TLS_KEY_FILE,
            ca_file=settings.MWL_TLS_CA_FILE,
            require_client_cert=settings.MWL_TLS_REQUIRE_CLIENT_CERT,
            logger=logger,
        )
    except tls.TLSConfigError as exc:
        raise CommandError(f"MWL TLS: {exc}") from exc


def serve(
    *,
    ae_title: str,
    bind: str,
    port: int,
    reuse_port: bool,
    tls_context: ssl.SSLContext | None,
    metrics: bool = True,
) -> None:
    """Run one gateway until SIGTERM/SIGINT, then shut down cleanly (``metrics``: serve
    /metrics on MWL_METRICS_PORT too; a supervised worker leaves that to its supervisor)."""
    gateway = Gateway(
        ae_title=ae_title,
        allow_any=settings.MWL_ALLOW_ANY_CALLING_AE,
        check_ip=settings.MWL_CHECK_CALLING_IP,
        keep_per_ae=settings.MWL_CAPTURE_PER_AE,
        association_days=settings.MWL_ASSOCIATION_RECORD_DAYS,
    )
    if not settings.MWL_TLS_ONLY:
        gateway.start(bind, port, reuse_port=reuse_port)
    if tls_context is not None:
        gateway.start(bind, settings.MWL_TLS_PORT, reuse_port=reuse_port, tls=tls_context)
    # Everything loaded so far (Django, pydicom's dictionaries, the app) lives as
    # long as the process: keep it out of every later garbage collection, which
    # then only walks what the associations created (a full collection over it
    # all took ~50 ms here, and stalls every association in flight).
    gc.collect()
    gc.freeze()
    logger.info(
        "mwl_gateway listening pid=%d ae_title=%s bind=%s port=%s tls_port=%s allow_any_calling_ae=%s "
        "check_calling_ip=%s time_zone=%s database=%s",
        os.getpid(),
        ae_title,
        bind,
        gateway.port if gateway.server else "off",
        gateway.tls_port if gateway.tls_server else "off",
        settings.MWL_ALLOW_ANY_CALLING_AE,
        settings.MWL_CHECK_CALLING_IP,
        settings.TIME_ZONE,
        connections["default"].vendor,
    )
    if metrics:
        serve_metrics(settings.MWL_METRICS_PORT, settings.METRICS_BIND, service="mwl_gateway")
    ports = [str(gateway.port) if gateway.server else "", f"tls {gateway.tls_port}" if gateway.tls_server else ""]
    heartbeat = Heartbeat("mwl_gateway", f"{ae_title} {bind} {' '.join(p for p in ports if p)}").start()
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        logger.info("mwl_gateway stopping pid=%d (signal %d)", os.getpid(), signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stop.wait()
    gateway.stop()
    heartbeat.stop()
    logger.info("mwl_gateway stopped pid=%d", os.getpid())


class Command(BaseCommand):
    help = "Run the DICOM gateway (C-ECHO, MWL C-FIND, MPPS N-CREATE/N-SET) until SIGTERM/SIGINT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--ae-title", default=settings.MWL_AE_TITLE)
        parser.add_argument("--port", type=int, default=settings.MWL_PORT)
        parser.add_argument("--bind", default=settings.MWL_BIND)
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.MWL_WORKERS,
            help="processes sharing the port (SO_REUSEPORT); pynetdicom uses one core per process",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        set_statement_timeout(settings.MWL_DB_STATEMENT_TIMEOUT_MS)
        # Read once, here: a TLS file that cannot be used stops the start before any worker
        # forks, and the workers inherit the context.
        tls_context = gateway_tls_context()
        workers = max(1, options["workers"])
        common = {
            "ae_title": options["ae_title"],
            "bind": options["bind"],
            "port": options["port"],
            "tls_context": tls_context,
        }
        if workers == 1:
            serve(**common, reuse_port=False)
            return
        if settings.MWL_METRICS_PORT and not multiprocess_dir():
            raise CommandError(
                "MWL_METRICS_PORT with more than one worker needs PROMETHEUS_MULTIPROC_DIR: an empty folder "
                "where the workers count (docs/operations.md, Metrics)"
            )
        supervise(workers, common)


RESTARTS_WITHIN = 30.0  # seconds: a worker that dies sooner than this after its start counts as failing to start
MAX_QUICK_FAILURES = 3  # in a row: then the gateway cannot serve, and says so


def _worker(common: dict[str, Any]) -> int:
    """A forked worker: serve until SIGTERM. Returns the exit status (never raises)."""
    try:
        serve(**common, reuse_port=True, metrics=False)
        return 0
    except BaseException:
        logger.exception("mwl_gateway worker pid=%d failed", os.getpid())
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def supervise(workers: int, common: dict[str, Any]) -> None:
    """Run ``workers`` processes sharing the port; restart any that dies. Ends
    on SIGTERM/SIGINT, or with CommandError when workers keep failing at start
    (a port in use, a database that refuses every connection)."""
    connections.close_all()  # never share a database connection across fork()
    children: dict[int, float] = {}  # pid -> when it started
    stop = threading.Event()

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os._exit(_worker(common))
        children[pid] = time.monotonic()
        logger.info("mwl_gateway worker started pid=%d", pid)

    def forward(signum: int, frame: Any) -> None:
        stop.set()
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for _ in range(workers):
        spawn()
    # the workers count in PROMETHEUS_MULTIPROC_DIR; this process adds them up when scraped
    serve_metrics(settings.MWL_METRICS_PORT, settings.METRICS_BIND, service="mwl_gateway")
    quick_failures = 0
    while children:
        pid, wait_status = os.wait()  # returns when a worker ends (also after forward())
        started = children.pop(pid, None)
        if started is None:
            continue
        code = os.waitstatus_to_exitcode(wait_status)
        mark_process_dead(pid)
        if stop.is_set():
            continue
        logger.error("mwl_gateway worker pid=%d ended unexpectedly (exit status %d); restarting it", pid, code)
        quick_failures = quick_failures + 1 if time.monotonic() - started < RESTARTS_WITHIN else 0
        if quick_failures >= MAX_QUICK_FAILURES:
            forward(signal.SIGTERM, None)
            for other in list(children):
                os.waitpid(other, 0)
            raise CommandError(
                f"mwl_gateway cannot serve: workers failed {quick_failures} times in a row within "
                f"{RESTARTS_WITHIN:g} s of starting (see the errors above)"
            )
        spawn()
