"""ris_check: is this installation set up right? Each check looks at the real thing (the
database, the broker, a Celery worker, the gateway over DICOM, the HL7 listener over MLLP,
the stations, the certificates, the disks, the backups, the audit trail) and says how to
fix what it finds. The same table on the operations page (ui/views/operations.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.models import Verification
from dicom_gateway.selectors import station_usage
from edge.selectors import central_edges, this_edge
from monitoring.jobs import BEAT
from monitoring.models import JobRun
from mwl_ris.lib import tls
from mwl_ris.lib.dicom import validate_ae_title
from scheduling.models import Station

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Result:
    name: str
    status: str  # ok, warn, fail
    detail: str
    fix: str = ""

    @property
    def passed(self) -> bool:
        return self.status != FAIL

    @property
    def label(self) -> str:
        """The check's name in the active language (the command and its JSON keep ``name``)."""
        return str(LABELS.get(self.name, self.name))


LABELS = {
    "database": gettext_lazy("database"),
    "broker": gettext_lazy("broker"),
    "celery worker": gettext_lazy("Celery worker"),
    "celery beat": gettext_lazy("Celery beat"),
    "time": gettext_lazy("time"),
    "gateway": gettext_lazy("DICOM gateway"),
    "hl7 listener": gettext_lazy("HL7 listener"),
    "stations": gettext_lazy("stations"),
    "station use": gettext_lazy("station use"),
    "tls": gettext_lazy("TLS certificates"),
    "disk": gettext_lazy("disk space"),
    "backup": gettext_lazy("backup"),
    "audit": gettext_lazy("audit trail"),
    "edge": gettext_lazy("edge nodes"),
}
# What an edge node does not run (docs/edge.md): no broker, Celery or HL7 listener; its state worth
# keeping is its outbox, which it forwards, and it is rebuilt from the centre rather than restored.
NOT_AT_EDGE = {"broker", "celery worker", "celery beat", "hl7 listener", "backup"}


@dataclass
class Options:
    """How long to wait for a Celery worker's answer, and what else to leave out."""

    worker_wait: float = 10.0
    skip: set[str] = field(default_factory=set)  # check names not to run (the page skips the slow worker ping)


Check = Callable[[Options], Iterator[Result]]
CHECKS: list[tuple[str, Check]] = []


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS.append((name, fn))
        return fn

    return register


def run_checks(options: Options | None = None) -> list[Result]:
    options = options or Options()
    results: list[Result] = []
    database_ok = True
    for name, fn in CHECKS:
        if name in options.skip or (settings.RIS_ROLE == "edge" and name in NOT_AT_EDGE):
            continue
        if not database_ok and name != "database":
            results.append(
                Result(name, FAIL, _("Not checked: the database is not usable."), _("Fix the database first."))
            )
            continue
        try:
            found = list(fn(options))
        except Exception as exc:  # noqa: BLE001 - a check that breaks is a failed check, with its reason
            found = [Result(name, FAIL, f"{type(exc).__name__}: {exc}", _("See the log of ris_check."))]
        results.extend(found)
        if name == "database" and any(r.status == FAIL for r in found):
            database_ok = False
    return results


def _ago(moment: dt.datetime | None) -> str:
    if moment is None:
        return _("never")
    local = timezone.localtime(moment)
    return local.strftime("%d/%m/%Y %H:%M:%S")


# --- the database, the broker, Celery ----------------------------------------------------


@check("database")
def check_database(options: Options) -> Iterator[Result]:
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        yield Result(
            "database",
            FAIL,
            _("Cannot reach the database: %(error)s") % {"error": str(exc).strip()[:200]},
            _("Check DATABASE_URL and that PostgreSQL runs (systemctl status postgresql; pg_isready -h HOST)."),
        )
        return
    if plan:
        yield Result(
            "database",
            FAIL,
            _("%(count)d migrations are not applied (first: %(first)s).")
            % {"count": len(plan), "first": f"{plan[0][0].app_label}.{plan[0][0].name}"},
            _("Run: python manage.py migrate"),
        )
        return
    yield Result("database", OK, _("%(vendor)s reachable, all migrations applied.") % {"vendor": connection.vendor})


@check("broker")
def check_broker(options: Options) -> Iterator[Result]:
    from mwl_ris.celery import app

    url = settings.CELERY_BROKER_URL
    shown = url.split("@")[-1]
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds
        yield Result(
            "broker",
            FAIL,
            _("Cannot reach the Celery broker %(url)s: %(error)s") % {"url": shown, "error": str(exc)[:200]},
            _("Check CELERY_BROKER_URL (or REDIS_URL) and that Redis runs (redis-cli -h HOST ping)."),
        )
        return
    yield Result("broker", OK, _("Celery broker %(url)s reachable.") % {"url": shown})


@check("celery worker")
def check_worker(options: Options) -> Iterator[Result]:
    from monitoring.tasks import ping_task

    name = ping_task.name
    sent = timezone.now()
    try:
        ping_task.delay()
    except Exception as exc:  # noqa: BLE001
        yield Result("celery worker", FAIL, _("Could not send a job: %(error)s") % {"error": str(exc)[:200]})
        return
    deadline = time.monotonic() + options.worker_wait
    while time.monotonic() < deadline:
        done = JobRun.objects.filter(task=name, last_succeeded__gte=sent).exists()
        if done:
            waited = (timezone.now() - sent).total_seconds()
            yield Result("celery worker", OK, _("A worker ran a test job in %(s).1f s.") % {"s": waited})
            return
        time.sleep(0.2)
    yield Result(
        "celery worker",
        FAIL,
        _("No worker ran a test job within %(s)d s.") % {"s": options.worker_wait},
        _("Start the worker: systemctl start mwl-ris-worker (or: celery -A mwl_ris worker); see its log."),
    )


@check("celery beat")
def check_beat(options: Options) -> Iterator[Result]:
    now = timezone.now()
    runs = {r.task: r for r in JobRun.objects.all()}
    beat = runs.get(BEAT)
    beat_started = beat.last_started if beat else None
    if beat_started is None:
        yield Result(
            "celery beat",
            FAIL,
            _("Celery beat has never started."),
            _("Start beat and a worker: systemctl start mwl-ris-beat mwl-ris-worker (or: celery -A mwl_ris beat)."),
        )
        return
    late, failing, not_due = [], [], 0
    for key, entry in settings.CELERY_BEAT_SCHEDULE.items():
        interval = float(entry["schedule"])  # type: ignore[arg-type]
        run = runs.get(str(entry["task"]))
        allowed = dt.timedelta(seconds=2 * interval + 120)
        last = run.last_started if run else None
        if (last is None or last < beat_started) and now - beat_started <= allowed:
            not_due += 1  # beat runs each job first one interval after it starts
        elif last is None or now - last > allowed:
            late.append(f"{key} ({_('last run')}: {_ago(last)})")
        elif (
            run is not None and run.last_failed and (run.last_succeeded is None or run.last_failed > run.last_succeeded)
        ):
            failing.append(f"{key}: {run.last_error}")
    if late:
        yield Result(
            "celery beat",
            FAIL,
            _("Periodic jobs not run on time: %(jobs)s") % {"jobs": "; ".join(late)},
            _("Start beat and a worker: systemctl start mwl-ris-beat mwl-ris-worker (or: celery -A mwl_ris beat)."),
        )
    elif failing:
        yield Result(
            "celery beat",
            FAIL,
            _("Periodic jobs failing: %(jobs)s") % {"jobs": "; ".join(failing)},
            _("Read the worker's log for the error and fix its cause."),
        )
    else:
        yield Result(
            "celery beat",
            OK,
            _("Beat started %(at)s; %(count)d periodic jobs ran on time, %(due)d not due yet.")
            % {"at": _ago(beat_started), "count": len(settings.CELERY_BEAT_SCHEDULE) - not_due, "due": not_due},
        )


# --- time ---------------------------------------------------------------------------------


@check("time")
def check_time(options: Options) -> Iterator[Result]:
    zone = ZoneInfo(settings.TIME_ZONE)
    local = timezone.now().astimezone(zone)
    if settings.TIME_ZONE in ("UTC", "Etc/UTC", "GMT"):
        yield Result(
            "time",
            WARN,
            _("The facility time zone is %(zone)s: worklist dates and slips are in UTC.")
            % {"zone": settings.TIME_ZONE},
            _("Set TIME_ZONE to the facility's zone (Africa/Dar_es_Salaam) and restart every service."),
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            before = time.time()
            cursor.execute("SELECT extract(epoch FROM clock_timestamp())")
            database_epoch = float(cursor.fetchone()[0])
            after = time.time()
        skew = database_epoch - (before + after) / 2
        if abs(skew) > settings.CHECK_MAX_CLOCK_SKEW_SECONDS:
            yield Result(
                "time",
                FAIL,
                _("This host's clock and the database's differ by %(s).1f s.") % {"s": skew},
                _("Keep both hosts on NTP (timedatectl set-ntp true; chronyc tracking)."),
            )
            return
        clock = _("within %(s).1f s of the database's") % {"s": abs(skew)}
    else:
        clock = _("the database is on this host")
    yield Result(
        "time",
        OK,
        _("Time zone %(zone)s, local time %(time)s; clock %(clock)s.")
        % {"zone": settings.TIME_ZONE, "time": local.strftime("%d/%m/%Y %H:%M"), "clock": clock},
    )


# --- the gateway and the HL7 listener ---------------------------------------------------


def _check_station() -> Station | None:
    """The station the gateway checks query as: an active one, preferring one the IP check lets in from here."""
    stations = list(Station.objects.filter(active=True).order_by("pk"))
    if settings.MWL_CHECK_CALLING_IP:
        stations = [s for s in stations if not s.ip_address] + [s for s in stations if s.ip_address]
    return stations[0] if stations else None


@check("gateway")
def check_gateway(options: Options) -> Iterator[Result]:
    from pydicom.dataset import Dataset
    from pynetdicom import AE

    from dicom_gateway.keys import MWL_FIND_SOP_CLASS, VERIFICATION_SOP_CLASS

    host = settings.MWL_CHECK_HOST
    use_tls = settings.MWL_TLS_ONLY
    port = settings.MWL_TLS_PORT if use_tls else settings.MWL_PORT
    station = _check_station()
    calling = station.ae_title if station else "RIS_CHECK"
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(VERIFICATION_SOP_CLASS)
    ae.add_requested_context(MWL_FIND_SOP_CLASS)
    tls_args: tuple[ssl.SSLContext, str] | None = None
    if use_tls:
        context = tls.client_context(ca_file=settings.MWL_TLS_CA_FILE, verify=bool(settings.MWL_TLS_CA_FILE))
        context.check_hostname = False
        tls_args = (context, host)
    transport_log = logging.getLogger("pynetdicom")
    level = transport_log.level
    transport_log.setLevel(logging.CRITICAL)  # a refused connection is this check's result, not an error to log
    try:
        assoc = ae.associate(host, port, ae_title=settings.MWL_AE_TITLE, tls_args=tls_args)
    finally:
        transport_log.setLevel(level)
    where = f"{settings.MWL_AE_TITLE}@{host}:{port}"
    if not assoc.is_established:
        if assoc.is_rejected:
            yield Result(
                "gateway",
                FAIL,
                _("%(where)s rejected an association from %(calling)s.") % {"where": where, "calling": calling},
                _("Register the station's AE title (Administration, Stations); check MWL_AE_TITLE on both sides."),
            )
        else:
            yield Result(
                "gateway",
                FAIL,
                _("Nothing answers DICOM at %(where)s.") % {"where": where},
                _(
                    "Start the gateway (systemctl start mwl-ris-gateway, or: python manage.py mwl_gateway); "
                    "check MWL_BIND, MWL_PORT and the firewall."
                ),
            )
        return
    try:
        echo = assoc.send_c_echo()
        if not echo or echo.get("Status") != 0:
            yield Result(
                "gateway", FAIL, _("C-ECHO to %(where)s failed.") % {"where": where}, _("See the gateway's log.")
            )
            return
        if station is None:
            yield Result(
                "gateway",
                WARN,
                _("C-ECHO to %(where)s works; no station is registered to query as.") % {"where": where},
                _("Register the scanners as stations (Administration, Stations)."),
            )
            return
        query = Dataset()
        query.PatientName = ""
        query.PatientID = ""
        query.AccessionNumber = ""
        step = Dataset()
        step.ScheduledStationAETitle = station.ae_title
        step.ScheduledProcedureStepStartDate = timezone.localdate().strftime("%Y%m%d")
        step.Modality = ""
        query.ScheduledProcedureStepSequence = [step]
        matches, final = 0, None
        for answer, _identifier in assoc.send_c_find(query, MWL_FIND_SOP_CLASS):
            code = answer.get("Status") if answer else None
            if code in (0xFF00, 0xFF01):
                matches += 1
            else:
                final = code
    finally:
        assoc.release()
    if final != 0:
        yield Result(
            "gateway",
            FAIL,
            _("C-FIND as %(calling)s ended with status %(status)s.")
            % {"calling": calling, "status": "none" if final is None else f"0x{final:04X}"},
            _("See the gateway's log and the station's last queries (Stations page)."),
        )
        return
    yield Result(
        "gateway",
        OK,
        _("C-ECHO and C-FIND as %(calling)s at %(where)s work: %(count)d items for it today.")
        % {"calling": calling, "where": where, "count": matches},
    )


def hl7_test_message(control_id: str) -> bytes:
    """An NMQ^N01 (network management query): the listener stores it, answers AA and applies nothing."""
    stamp = timezone.localtime().strftime("%Y%m%d%H%M%S")
    return f"MSH|^~\\&|RIS_CHECK|RIS|MWL_RIS|RIS|{stamp}||NMQ^N01|{control_id}|P|2.5.1\rNCK|{stamp}\r".encode("ascii")


@check("hl7 listener")
def check_hl7(options: Options) -> Iterator[Result]:
    from hl7_interface.framing import CR, EB, SB

    host, port = settings.HL7_CHECK_HOST, settings.HL7_PORT
    if settings.HL7_TLS_ONLY:
        yield Result(
            "hl7 listener",
            WARN,
            _("HL7 is TLS only (port %(port)d): not tested here.") % {"port": settings.HL7_TLS_PORT},
            _("Test it with: openssl s_client -connect HOST:PORT (docs/security.md)."),
        )
        return
    control_id = f"RISCHECK{int(time.time() * 1000)}"[:20]
    try:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(SB + hl7_test_message(control_id) + EB + CR)
            reply = b""
            while EB not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        yield Result(
            "hl7 listener",
            FAIL,
            _("Nothing answers HL7 at %(host)s:%(port)d: %(error)s") % {"host": host, "port": port, "error": exc},
            _(
                "Start the listener (systemctl start mwl-ris-hl7, or: python manage.py hl7_listener); check HL7_BIND, "
                "HL7_PORT, HL7_ALLOWED_PEERS and the firewall."
            ),
        )
        return
    if b"MSA|AA|" + control_id.encode() in reply:
        yield Result(
            "hl7 listener", OK, _("%(host)s:%(port)d answered a test message with AA.") % {"host": host, "port": port}
        )
        return
    yield Result(
        "hl7 listener",
        FAIL,
        _("%(host)s:%(port)d did not accept a test message: %(reply)s")
        % {"host": host, "port": port, "reply": reply.decode("ascii", "replace").replace("\r", " ")[:200] or "-"},
        _("See the HL7 inbox (Administration) and the listener's log."),
    )


# --- the stations ---------------------------------------------------------------------------


@check("stations")
def check_stations(options: Options) -> Iterator[Result]:
    stations = list(
        Station.objects.filter(active=True).prefetch_related("opening_hours").select_related("dicom_profile")
    )
    if not stations:
        yield Result(
            "stations",
            FAIL,
            _("No active station: no scanner can query the worklist."),
            _("Add the scanners in Administration, Stations."),
        )
        return
    problems: list[str] = []
    seen: dict[str, str] = {}
    for station in stations:
        title = station.ae_title.strip()
        try:
            validate_ae_title(station.ae_title)
        except ValidationError as exc:
            problems.append(f"{station.name}: {' '.join(exc.messages)}")
        key = title.upper()
        if key in seen:
            problems.append(
                _("%(a)s and %(b)s share the AE title %(title)s") % {"a": seen[key], "b": station.name, "title": title}
            )
        seen[key] = station.name
        if key == settings.MWL_AE_TITLE.upper():
            problems.append(_("%(name)s has the gateway's own AE title") % {"name": station.name})
        if key == settings.MWL_HEALTH_AE_TITLE.upper():
            problems.append(_("%(name)s has the health probe's AE title (C-ECHO only)") % {"name": station.name})
        if settings.MWL_CHECK_CALLING_IP and not station.ip_address:
            problems.append(_("%(name)s has no IP address, and the IP check is on") % {"name": station.name})
        hours = list(station.opening_hours.all())
        if hours and any(h.closes != dt.time(0) and h.closes <= h.opens for h in hours):
            problems.append(_("%(name)s has opening hours that close before they open") % {"name": station.name})
    if problems:
        yield Result(
            "stations",
            FAIL,
            "; ".join(problems),
            _("Correct the stations in Administration, Stations."),
        )
    else:
        yield Result(
            "stations", OK, _("%(count)d active stations, configured consistently.") % {"count": len(stations)}
        )
    usage = station_usage(stations)
    never = [f"{s.name} ({s.ae_title})" for s in stations if usage[s.ae_title].never_queried]
    empty = [f"{s.name} ({s.ae_title})" for s in stations if usage[s.ae_title].queries_return_nothing]
    notes = []
    if never:
        notes.append(_("Never queried the worklist: %(stations)s.") % {"stations": ", ".join(never)})
    if empty:
        notes.append(_("Queries return nothing: %(stations)s.") % {"stations": ", ".join(empty)})
    if notes:
        yield Result(
            "station use",
            WARN,
            " ".join(notes),
            _(
                "On the scanner: the worklist's AE title, IP and port, and its query keys; compare them with the "
                "explainer (docs/modalities.md)."
            ),
        )
    else:
        yield Result("station use", OK, _("Every active station has queried the worklist and got items."))


# --- TLS, disks, backups, audit ---------------------------------------------------------------


@check("tls")
def check_tls(options: Options) -> Iterator[Result]:
    paths = [
        (name, getattr(settings, name))
        for name in ("MWL_TLS_CERT_FILE", "HL7_TLS_CERT_FILE", "HL7_OUTBOUND_TLS_CERT_FILE")
        if getattr(settings, name)
    ]
    if not paths:
        yield Result("tls", OK, _("TLS is not configured (plain DICOM and HL7)."))
        return
    problems, fine = [], []
    for name, path in paths:
        try:
            info = tls.certificate_info(path)
        except tls.TLSConfigError as exc:
            problems.append(f"{name}: {exc}")
            continue
        problem = info.problem()
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            fine.append(f"{name}: {int(info.days_left())} " + _("days left"))
    if problems:
        yield Result(
            "tls",
            FAIL,
            "; ".join(problems),
            _("Issue a new certificate from the site CA and restart the service (docs/security.md)."),
        )
    else:
        yield Result("tls", OK, "; ".join(fine))


def _free_mb(path: Path) -> tuple[Path, float]:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe, shutil.disk_usage(probe).free / 1024 / 1024


@check("disk")
def check_disk(options: Options) -> Iterator[Result]:
    places = {_("audit archive"): Path(settings.AUDIT_ARCHIVE_DIR), _("backups"): Path(settings.BACKUP_DIR)}
    if connection.vendor == "sqlite":
        places[_("database")] = Path(str(settings.DATABASES["default"]["NAME"])).parent
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            size_mb = cursor.fetchone()[0] / 1024 / 1024
    low: list[str] = []
    fine: list[str] = []
    for label, path in places.items():
        where, free = _free_mb(path)
        text = f"{label} ({where}): {free:,.0f} MB " + _("free")
        (low if free < settings.CHECK_MIN_FREE_MB else fine).append(text)
    if connection.vendor != "sqlite":
        fine.append(_("database size %(mb).0f MB (check the PostgreSQL host's disk there)") % {"mb": size_mb})
    if low:
        yield Result(
            "disk",
            FAIL,
            _("Less than %(mb)d MB free: %(where)s") % {"mb": settings.CHECK_MIN_FREE_MB, "where": "; ".join(low)},
            _("Free space or move the folder to a larger disk (AUDIT_ARCHIVE_DIR, BACKUP_DIR)."),
        )
    else:
        yield Result("disk", OK, "; ".join(fine))


def last_backup() -> dict[str, object] | None:
    """What scripts/backup wrote last (BACKUP_DIR/last-backup.json), or None."""
    try:
        return dict(json.loads((Path(settings.BACKUP_DIR) / "last-backup.json").read_text()))
    except (OSError, ValueError):
        return None


@check("backup")
def check_backup(options: Options) -> Iterator[Result]:
    found = last_backup()
    fix = _("Schedule scripts/backup (docs/operations.md, Backup) and check its log.")
    if not found:
        yield Result("backup", FAIL, _("No backup found in %(dir)s.") % {"dir": settings.BACKUP_DIR}, fix)
        return
    finished = dt.datetime.fromisoformat(str(found["finished_at"]))
    age = timezone.now() - finished
    if age > dt.timedelta(hours=settings.BACKUP_MAX_AGE_HOURS):
        yield Result(
            "backup",
            FAIL,
            _("The last backup is %(hours)d hours old (%(at)s).")
            % {"hours": age.total_seconds() // 3600, "at": _ago(finished)},
            fix,
        )
        return
    yield Result(
        "backup", OK, _("Last backup %(at)s: %(path)s") % {"at": _ago(finished), "path": found.get("path", "")}
    )


@check("audit")
def check_audit(options: Options) -> Iterator[Result]:
    last = Verification.objects.order_by("-at").first()
    interval = float(settings.CELERY_BEAT_SCHEDULE["audit-verify"]["schedule"])  # type: ignore[arg-type]
    if last is None:
        yield Result(
            "audit",
            FAIL,
            _("The audit trail has never been verified."),
            _("Run: python manage.py audit_verify (and keep edge_forward running: it verifies every hour).")
            if settings.RIS_ROLE == "edge"
            else _("Run: python manage.py audit_verify (and keep beat running: it verifies every hour)."),
        )
    elif not last.ok:
        yield Result(
            "audit",
            FAIL,
            _("The last audit verification (%(at)s) found the trail broken: %(detail)s")
            % {"at": _ago(last.at), "detail": last.detail[:300]},
            _("Do not delete anything: see docs/operations.md, Audit, and report it."),
        )
    elif timezone.now() - last.at > dt.timedelta(seconds=2 * interval + 600):
        yield Result(
            "audit",
            FAIL,
            _("The last audit verification is from %(at)s.") % {"at": _ago(last.at)},
            _("Keep edge_forward running, or run: python manage.py audit_verify")
            if settings.RIS_ROLE == "edge"
            else _("Keep beat and a worker running, or run: python manage.py audit_verify"),
        )
    else:
        yield Result(
            "audit",
            OK,
            _("Audit trail verified %(at)s: %(detail)s") % {"at": _ago(last.at), "detail": last.detail.split(";")[0]},
        )


@check("edge")
def check_edge(options: Options) -> Iterator[Result]:
    """At the centre: each site's edge node (replication, last contact, outbox). At an edge: this node."""
    if settings.RIS_ROLE == "edge":
        views = [this_edge()]
    else:
        views = central_edges()
        if not views:
            yield Result("edge", OK, _("No site has an edge node."))
            return
    fix = _("See docs/edge.md, During and after an outage.")
    for view in views:
        status = view.status
        summary = _("%(site)s: %(link)s; worklist as of %(as_of)s; outbox %(depth)d; last contact %(contact)s") % {
            "site": view.site.code,
            "link": _("connected") if view.connected else _("not connected"),
            "as_of": _ago(status.worklist_as_of) if status else _("never"),
            "depth": status.outbox_depth if status else 0,
            "contact": _ago(status.reported_at) if status else _("never"),
        }
        if view.slot is not None and view.slot.lag_bytes is not None:
            summary += " · " + _("replication lag %(bytes)d bytes") % {"bytes": view.slot.lag_bytes}
        if not view.problems:
            yield Result("edge", OK, summary)
        else:
            yield Result("edge", view.level, summary + ". " + " ".join(text for _level, text in view.problems), fix)
