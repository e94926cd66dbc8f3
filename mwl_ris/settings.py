"""Settings for the mini-RIS, all read from the environment (see README, "Configuration").

Zero configuration gives a working quick start: SQLite in ``var/`` and no Redis.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
import django_stubs_ext
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from mwl_ris.lib.env import env_bool, env_int, env_list, env_str

# Lets Django's generic classes be subscripted at runtime (admin.ModelAdmin[Model]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MWL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("DJANGO_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production")
    # Quick start: a fixed development key, reported by the system check ris.E001.
    SECRET_KEY = "insecure-quick-start-key-change-me-" + "x" * 20
    INSECURE_SECRET_KEY = True
else:
    INSECURE_SECRET_KEY = False

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# HTTPS behind a TLS reverse proxy (nginx, the hospital's load balancer): DJANGO_HTTPS=true turns on
# what `manage.py check --deploy` asks for; each part can be set on its own. The proxy must set
# X-Forwarded-Proto (and strip it from clients) for SECURE_PROXY_SSL_HEADER to be trusted.
HTTPS = env_bool("DJANGO_HTTPS", False)
if env_bool("DJANGO_BEHIND_TLS_PROXY", HTTPS):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
# the probes of compose, systemd and monitoring speak plain HTTP inside
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)  # browsers' built-in list: hard to leave again

# Content-Security-Policy (django-csp): scripts, styles, images and requests from this site only. No inline
# script or style anywhere: the pages' behaviour is in static/ui/*.js, htmx's indicator style is in app.css
# (htmx-config meta: includeIndicatorStyles false). One exception, in mwl_ris/urls.py: Swagger UI (/api/docs/)
# adds <style> elements as it renders, so that page allows inline style (never inline script).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],  # data: the empty favicon and Swagger UI's inline icons
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "django_htmx",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally: hospitals may be offline
    "accounts",
    "facility",
    "patients",
    "orders",
    "scheduling",
    "worklist",
    "dicom_gateway",
    "hl7_interface",
    "audit",
    "reminders",
    "monitoring",
    "edge",
    "operations",
    "ui",
]

MIDDLEWARE = [
    "monitoring.middleware.RequestTimingMiddleware",  # first: times everything below it
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out sign-in
]

ROOT_URLCONF = "mwl_ris.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ui.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "mwl_ris.wsgi.application"


# Database: SQLite in var/ by default, anything dj-database-url understands otherwise.
_DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'mwl_ris.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL", _DEFAULT_SQLITE)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE: every atomic block takes the write lock at BEGIN, so the
    # overlap check and the insert of a booking cannot interleave (SQLite has
    # no exclusion constraints; see scheduling/booking.py).
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # libpq waits forever for an unreachable server by default: every process gives up after this.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "DATABASE_CONNECT_TIMEOUT", 3, minimum=1
    )
    # A connection pool (psycopg_pool) for long-running multi-threaded processes:
    # the DICOM gateway opens a thread per association and would otherwise
    # connect to PostgreSQL for every query. scripts/start and compose set it there.
    if env_bool("DATABASE_POOL", False):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN", 2, minimum=0),
            "max_size": env_int("DATABASE_POOL_MAX", 16, minimum=1),
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 3, minimum=1),
            # After an outage: psycopg_pool doubles its wait between reconnection attempts
            # (1, 2, 4 … s) until this; past it the attempt ends, and the next request
            # that finds the pool empty starts a new one at once. A few seconds keeps
            # "back within 5 s of the database" true after any outage.
            "reconnect_timeout": float(env_int("DATABASE_POOL_RECONNECT_TIMEOUT", 3, minimum=1)),
        }
# statement_timeout of the web app's sessions (mwl_ris/wsgi.py) and the HL7 listener's (0: none).
WEB_DB_STATEMENT_TIMEOUT_MS = env_int("WEB_DB_STATEMENT_TIMEOUT_MS", 30_000, minimum=0)
HL7_DB_STATEMENT_TIMEOUT_MS = env_int("HL7_DB_STATEMENT_TIMEOUT_MS", 10_000, minimum=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sign-in throttling (django-axes): LOGIN_FAILURE_LIMIT wrong passwords lock the account for
# LOGIN_LOCKOUT_MINUTES, and lock one device (its address and browser) that tries many accounts; a
# success resets the count. Not by address alone unless LOGIN_LOCKOUT_BY_ADDRESS=true: a ward's
# tablets often share one NAT address, and one mistyping nurse would lock out the whole ward.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS: list[str | list[str]] = [
    "username",
    "ip_address" if env_bool("LOGIN_LOCKOUT_BY_ADDRESS", False) else ["ip_address", "user_agent"],
]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = env_int("LOGIN_PROXY_COUNT", 1 if HTTPS else 0, minimum=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Staff passwords: 12 characters at least (NIST SP 800-63B asks 8; 12 for accounts that see patient data),
    # not like the user's name, not a common password, not all digits. Django checks these wherever a
    # password is set: the password-change page, the admin, `manage.py changepassword` and `createsuperuser`.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12, minimum=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: English and Swahili; times are timezone-aware.
LANGUAGE_CODE = env_str("DJANGO_LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("sw", _("Swahili"))]
# Day/month/year and the 24-hour clock in both languages (mwl_ris/formats/)
FORMAT_MODULE_PATH = ["mwl_ris.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Africa/Dar_es_Salaam")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as _exc:
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known time zone") from _exc
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the app and static/ directories too, so the quick start and the
# tests need no collectstatic; production images still run collectstatic (compressed files).
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SESSION_COOKIE_AGE = env_int("SESSION_TIMEOUT_SECONDS", 8 * 3600, minimum=300)
SESSION_SAVE_EVERY_REQUEST = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ui:home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.RecordingTokenAuthentication",  # DRF's, noting each token's last use
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "api.common.StrictQueryParameters",
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.common.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.common.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mini-RIS and Modality Worklist API",
    "DESCRIPTION": (
        "Patients, procedure catalogue, imaging orders, stations, appointments and the "
        "DICOM modality worklist projection. Authenticate with `Authorization: Token <key>` "
        "or a browser session."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ExamStatusEnum": "orders.lifecycle.ExamStatus",
    },
}

# --- RIS behaviour -----------------------------------------------------------
# Issuer of Patient ID (0010,0021) for patients registered without one.
RIS_DEFAULT_ISSUER = env_str("RIS_DEFAULT_ISSUER", "")
# Accession numbers: a str.format template with {prefix}, {date} (today, local) and {seq}.
# The counter restarts whenever the rest of the rendered value changes (per day by default).
ACCESSION_PREFIX = env_str("ACCESSION_PREFIX", "A")
ACCESSION_FORMAT = env_str("ACCESSION_FORMAT", "{prefix}{date:%y%m%d}{seq:04d}")
# Study Instance UIDs: "2.25.<uuid>" unless an organisation root is configured.
RIS_UID_ROOT = env_str("RIS_UID_ROOT", "")

# --- DICOM gateway (issue: mwl_gateway) --------------------------------------
MWL_AE_TITLE = env_str("MWL_AE_TITLE", "RIS_MWL")
MWL_PORT = env_int("MWL_PORT", 11112, minimum=1, maximum=65535)
MWL_BIND = env_str("MWL_BIND", "127.0.0.1")
# DICOM TLS (PS3.15 B.9, BCP 195; mwl_ris/lib/tls.py): a TLS port beside the plain one, or instead of it
# (MWL_TLS_ONLY). The gateway's certificate and key from files; with MWL_TLS_CA_FILE, client certificates
# are checked against that CA (required with MWL_TLS_REQUIRE_CLIENT_CERT, else checked when sent).
MWL_TLS_PORT = env_int("MWL_TLS_PORT", 0, minimum=0, maximum=65535)  # 0: no TLS port
MWL_TLS_CERT_FILE = env_str("MWL_TLS_CERT_FILE", "")
MWL_TLS_KEY_FILE = env_str("MWL_TLS_KEY_FILE", "")
MWL_TLS_CA_FILE = env_str("MWL_TLS_CA_FILE", "")
MWL_TLS_REQUIRE_CLIENT_CERT = env_bool("MWL_TLS_REQUIRE_CLIENT_CERT", False)
MWL_TLS_ONLY = env_bool("MWL_TLS_ONLY", False)
if MWL_TLS_PORT and not MWL_TLS_CERT_FILE:
    raise ImproperlyConfigured("MWL_TLS_PORT is set: MWL_TLS_CERT_FILE (and MWL_TLS_KEY_FILE) must be set too")
if MWL_TLS_ONLY and not MWL_TLS_PORT:
    raise ImproperlyConfigured("MWL_TLS_ONLY=true needs MWL_TLS_PORT")
# Accept associations from calling AE titles that are not a registered station (not recommended).
MWL_ALLOW_ANY_CALLING_AE = env_bool("MWL_ALLOW_ANY_CALLING_AE", False)
# The health probe's calling AE title (manage.py ris_probe dicom, compose's health check): let in from this
# host only, for C-ECHO only, and neither recorded nor logged.
MWL_HEALTH_AE_TITLE = env_str("MWL_HEALTH_AE_TITLE", "RIS_HEALTH")
# Abort associations whose calling AE comes from another IP than its station's registered one.
MWL_CHECK_CALLING_IP = env_bool("MWL_CHECK_CALLING_IP", False)
# How many recent queries per calling AE are kept for "why isn't my patient on the scanner?".
# Gateway processes sharing the port (pynetdicom is bound by the GIL: one core per process).
MWL_WORKERS = env_int("MWL_WORKERS", 1, minimum=1, maximum=64)
# Nagle's algorithm off on every association (switch on only to measure what it costs).
MWL_TCP_NODELAY = env_bool("MWL_TCP_NODELAY", True)
# Built-and-encoded responses kept per gateway process (0 disables the cache).
MWL_RESPONSE_CACHE_SIZE = env_int("MWL_RESPONSE_CACHE_SIZE", 10_000, minimum=0)
# Parsed and compiled C-FIND queries kept per gateway process (by request bytes).
MWL_PLAN_CACHE_SIZE = env_int("MWL_PLAN_CACHE_SIZE", 1_000, minimum=0)
# ... and the memory both caches may take (estimated), so hostile or varied queries cannot grow the process
MWL_RESPONSE_CACHE_BYTES = env_int("MWL_RESPONSE_CACHE_MB", 64, minimum=0) * 1024 * 1024
MWL_PLAN_CACHE_BYTES = env_int("MWL_PLAN_CACHE_MB", 16, minimum=0) * 1024 * 1024
# Where each gateway process journals what it answered before the answer goes out (recorder.py)
MWL_JOURNAL_DIR = env_str("MWL_JOURNAL_DIR", str(VAR_DIR / "gateway-journal"))
# The gateway's shortcuts around pynetdicom internals (dicom_gateway/accel.py); off: public API only.
MWL_ACCEL = env_bool("MWL_ACCEL", True)
# Admission (dicom_gateway/admission.py): associations at once, in all and per peer address; connections
# waiting for their A-ASSOCIATE-RQ, in all and per address, and how long they may take to send it.
MWL_MAX_ASSOCIATIONS = env_int("MWL_MAX_ASSOCIATIONS", 64, minimum=1)
MWL_MAX_ASSOCIATIONS_PER_PEER = env_int("MWL_MAX_ASSOCIATIONS_PER_PEER", 16, minimum=1)
MWL_MAX_PENDING = env_int("MWL_MAX_PENDING", 128, minimum=1)
MWL_MAX_PENDING_PER_PEER = env_int("MWL_MAX_PENDING_PER_PEER", 8, minimum=1)
MWL_REQUEST_TIMEOUT = float(env_int("MWL_REQUEST_TIMEOUT", 5, minimum=1))
# An association with no traffic for this many seconds is aborted.
MWL_IDLE_TIMEOUT = float(env_int("MWL_IDLE_TIMEOUT", 60, minimum=5))
# Every SQL statement of the gateway ends after this many ms (PostgreSQL statement_timeout), and the
# gateway stops waiting for any database answer after it plus a second (a frozen server): 0xC000 + comment.
MWL_DB_STATEMENT_TIMEOUT_MS = env_int("MWL_DB_STATEMENT_TIMEOUT_MS", 3000, minimum=0)
MWL_DB_DEADLINE = MWL_DB_STATEMENT_TIMEOUT_MS / 1000 + 1 if MWL_DB_STATEMENT_TIMEOUT_MS else 10.0
# Days that association records (accepted, rejected, aborted; no patient data) are kept.
MWL_ASSOCIATION_RECORD_DAYS = env_int("MWL_ASSOCIATION_RECORD_DAYS", 90, minimum=1)
MWL_CAPTURE_PER_AE = env_int("MWL_CAPTURE_PER_AE", 20, minimum=1, maximum=1000)

# --- Sites and edge nodes (docs/edge.md) -------------------------------------
# "central": the RIS itself. "edge": a remote centre's node, a PostgreSQL subscribed to the site's
# publication at the centre, serving its modalities with mwl_gateway and forwarding their MPPS (edge_forward).
RIS_ROLE = env_str("RIS_ROLE", "central")
if RIS_ROLE not in ("central", "edge"):
    raise ImproperlyConfigured(f"RIS_ROLE must be central or edge, not {RIS_ROLE!r}")
RIS_SITE = env_str("RIS_SITE", "").upper()  # the edge's site code (facility.Site.code)
if RIS_ROLE == "edge" and not RIS_SITE:
    raise ImproperlyConfigured("RIS_ROLE=edge needs RIS_SITE (the site code, as at the centre)")
# The centre as the edge reaches it over the VPN: its database (the subscription, and the edge's status
# report) as a libpq URL with the site's replication user, and its gateway (where MPPS is forwarded).
EDGE_CENTRAL_DATABASE_URL = env_str("EDGE_CENTRAL_DATABASE_URL", "")
EDGE_CENTRAL_HOST = env_str("EDGE_CENTRAL_HOST", "")
EDGE_CENTRAL_PORT = env_int("EDGE_CENTRAL_PORT", 11112, minimum=1, maximum=65535)
EDGE_CENTRAL_AE_TITLE = env_str("EDGE_CENTRAL_AE_TITLE", "RIS_MWL")
# The edge's calling AE title towards the centre (Site.edge_ae_title there).
EDGE_AE_TITLE = env_str("EDGE_AE_TITLE", f"EDGE_{RIS_SITE}"[:16] if RIS_SITE else "")
# Forward over DICOM TLS with this CA file (and a client certificate if the centre asks for one).
EDGE_CENTRAL_TLS_CA_FILE = env_str("EDGE_CENTRAL_TLS_CA_FILE", "")
EDGE_TLS_CERT_FILE = env_str("EDGE_TLS_CERT_FILE", "")
EDGE_TLS_KEY_FILE = env_str("EDGE_TLS_KEY_FILE", "")
# Retries back off from 1 s, doubling, to this many seconds.
EDGE_RETRY_MAX_SECONDS = env_int("EDGE_RETRY_MAX_SECONDS", 60, minimum=1)
# How often the forwarder samples the subscription and reports to the centre.
EDGE_REPORT_SECONDS = env_int("EDGE_REPORT_SECONDS", 10, minimum=1)
# edge_forward's /metrics port at an edge node (0: none), on METRICS_BIND.
EDGE_METRICS_PORT = env_int("EDGE_METRICS_PORT", 0, minimum=0, maximum=65535)
# ris_check and the sites page warn when an edge's worklist, contact or oldest message is older than this.
EDGE_WARN_MINUTES = env_int("EDGE_WARN_MINUTES", 5, minimum=1)

# --- HL7 v2 listener (MLLP) and outbound status messages ----------------------
HL7_PORT = env_int("HL7_PORT", 2575, minimum=1, maximum=65535)
HL7_BIND = env_str("HL7_BIND", "127.0.0.1")
# IP addresses allowed to connect (the HIS/EMR servers); empty: any host that reaches the port.
HL7_ALLOWED_PEERS = env_list("HL7_ALLOWED_PEERS", [])
# Threads applying messages (one connection's messages are always applied in order).
HL7_WORKERS = env_int("HL7_WORKERS", 4, minimum=1, maximum=64)
# Larger messages are refused with AR (and kept in the inbox).
HL7_MAX_MESSAGE_BYTES = env_int("HL7_MAX_MESSAGE_BYTES", 512 * 1024, minimum=1024)
# A frame not finished within this many seconds is refused as truncated.
HL7_FRAME_TIMEOUT = env_int("HL7_FRAME_TIMEOUT", 30, minimum=1)
# A connection with no message for this many seconds is closed (the sender reconnects when it has one).
HL7_IDLE_TIMEOUT = env_int("HL7_IDLE_TIMEOUT", 300, minimum=5)
# Connections open at once, in all and from one address (more are closed at once).
HL7_MAX_CONNECTIONS = env_int("HL7_MAX_CONNECTIONS", 64, minimum=1)
HL7_MAX_CONNECTIONS_PER_PEER = env_int("HL7_MAX_CONNECTIONS_PER_PEER", 8, minimum=1)
# Character set of messages whose MSH-18 is empty (UTF-8 also reads plain ASCII).
HL7_DEFAULT_CHARSET = env_str("HL7_DEFAULT_CHARSET", "UNICODE UTF-8")
# Assigning authority (PID-3.4) whose identifier is the Patient ID; empty: type MR/PI, else the first.
HL7_PATIENT_ID_AUTHORITY = env_str("HL7_PATIENT_ID_AUTHORITY", "")
# Which placer field names the station (AE title) for auto-scheduling: "", "OBR-18" or "OBR-19".
HL7_STATION_FIELD = env_str("HL7_STATION_FIELD", "")
if HL7_STATION_FIELD not in ("", "OBR-18", "OBR-19"):
    raise ImproperlyConfigured("HL7_STATION_FIELD must be empty, OBR-18 or OBR-19")
# HL7 over TLS (mwl_ris/lib/tls.py): the MLLP listener with TLS on HL7_TLS_PORT, beside the plain
# HL7_PORT or instead of it (HL7_TLS_ONLY); client certificates checked against HL7_TLS_CA_FILE (required
# with HL7_TLS_REQUIRE_CLIENT_CERT). Outbound destinations choose TLS each (hl7_interface.Destination).
HL7_TLS_PORT = env_int("HL7_TLS_PORT", 0, minimum=0, maximum=65535)  # 0: no TLS port
HL7_TLS_CERT_FILE = env_str("HL7_TLS_CERT_FILE", "")
HL7_TLS_KEY_FILE = env_str("HL7_TLS_KEY_FILE", "")
HL7_TLS_CA_FILE = env_str("HL7_TLS_CA_FILE", "")
HL7_TLS_REQUIRE_CLIENT_CERT = env_bool("HL7_TLS_REQUIRE_CLIENT_CERT", False)
HL7_TLS_ONLY = env_bool("HL7_TLS_ONLY", False)
if HL7_TLS_PORT and not HL7_TLS_CERT_FILE:
    raise ImproperlyConfigured("HL7_TLS_PORT is set: HL7_TLS_CERT_FILE (and HL7_TLS_KEY_FILE) must be set too")
if HL7_TLS_ONLY and not HL7_TLS_PORT:
    raise ImproperlyConfigured("HL7_TLS_ONLY=true needs HL7_TLS_PORT")
# Outbound destinations with "use TLS": their certificate checked against this CA (else the system's store),
# and this client certificate sent when a destination asks for one.
HL7_OUTBOUND_TLS_CA_FILE = env_str("HL7_OUTBOUND_TLS_CA_FILE", "")
HL7_OUTBOUND_TLS_CERT_FILE = env_str("HL7_OUTBOUND_TLS_CERT_FILE", "")
HL7_OUTBOUND_TLS_KEY_FILE = env_str("HL7_OUTBOUND_TLS_KEY_FILE", "")
# Our MSH-3/MSH-4 in messages we send.
HL7_APPLICATION = env_str("HL7_APPLICATION", "MWL_RIS")
HL7_FACILITY = env_str("HL7_FACILITY", "")
HL7_OUTBOUND_TIMEOUT = env_int("HL7_OUTBOUND_TIMEOUT", 10, minimum=1)
HL7_OUTBOUND_MAX_ATTEMPTS = env_int("HL7_OUTBOUND_MAX_ATTEMPTS", 20, minimum=1)

# --- Celery ---------------------------------------------------------------------
# Redis (or any kombu URL) when set; otherwise kombu's filesystem transport in
# var/celery: the quick start runs worker and beat without Redis.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", env_str("REDIS_URL", "")) or "filesystem://localhost//"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        # kombu's default is ./control, relative to wherever a process started
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True


def _every(task: str, seconds: float) -> dict[str, object]:
    """A periodic task; a run not started within its interval is dropped (the next one comes)."""
    return {"task": task, "schedule": seconds, "options": {"expires": seconds}}


# --- Audit trail, expiry and reminders (the Celery jobs) -------------------------
# The audit trail is always on; switching it off exists only to measure its cost (bench/audit_overhead.py).
AUDIT_ENABLED = env_bool("AUDIT_ENABLED", True)
# Where closed days of the audit trail are exported (gzipped JSON lines, one file per day).
AUDIT_ARCHIVE_DIR = env_str("AUDIT_ARCHIVE_DIR", str(VAR_DIR / "audit"))
# The key of the audit trail's MACs and keyed hash chain, outside the database (audit/keys.py); created on
# first use. Old keys after a rotation stay readable in AUDIT_HMAC_OLD_KEY_FILES (comma-separated).
AUDIT_HMAC_KEY_FILE = env_str("AUDIT_HMAC_KEY_FILE", str(VAR_DIR / "audit-hmac.key"))
AUDIT_HMAC_OLD_KEY_FILES = env_list("AUDIT_HMAC_OLD_KEY_FILES", [])
# Days the audit trail stays in the database; older days are pruned after a verified export.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365, minimum=1)
# A scheduled exam never started this many hours after its start leaves the worklist (no-show).
# An exam can be marked no-show from its start plus this many minutes (not before: a mis-tap frees the slot).
NO_SHOW_GRACE_MINUTES = env_int("NO_SHOW_GRACE_MINUTES", 15, minimum=0)
# A mistaken "arrived", "start" or "no-show" can be undone by the same user this many minutes (admins: any time).
EXAM_UNDO_MINUTES = env_int("EXAM_UNDO_MINUTES", 10, minimum=0)
WORKLIST_EXPIRY_GRACE_HOURS = env_int("WORKLIST_EXPIRY_GRACE_HOURS", 12, minimum=1)
# Completed and discontinued exams stay on the (not served) worklist projection this long.
WORKLIST_DONE_RETENTION_HOURS = env_int("WORKLIST_DONE_RETENTION_HOURS", 48, minimum=1)
# An MPPS that matched no order is flagged stale after this many hours.
MPPS_UNMATCHED_STALE_HOURS = env_int("MPPS_UNMATCHED_STALE_HOURS", 24, minimum=1)
# Appointment reminders: the sender (dotted path) and when the day-before reminders go out (local hour).
REMINDER_SENDER = env_str("REMINDER_SENDER", "reminders.senders.LogSender")
REMINDER_HOUR = env_int("REMINDER_HOUR", 10, minimum=0, maximum=23)
# The HTTP SMS gateway adapter (reminders.senders.HttpSmsSender): URL, auth header and JSON body template.
REMINDER_SMS_URL = env_str("REMINDER_SMS_URL", "")
REMINDER_SMS_AUTH_HEADER = env_str("REMINDER_SMS_AUTH_HEADER", "")
REMINDER_SMS_BODY = env_str("REMINDER_SMS_BODY", '{"to": "{phone}", "message": "{text}"}')

CELERY_BEAT_SCHEDULE = {
    "hl7-outbound-sweep": _every(
        "hl7_interface.tasks.hl7_outbound_sweep_task", float(env_int("HL7_OUTBOUND_SWEEP_SECONDS", 60, minimum=5))
    ),
    "audit-seal": _every("audit.tasks.audit_seal_task", float(env_int("AUDIT_SEAL_SECONDS", 10, minimum=1))),
    "audit-verify": _every("audit.tasks.audit_verify_task", float(env_int("AUDIT_VERIFY_SECONDS", 3600, minimum=60))),
    "audit-export-prune": _every(
        "audit.tasks.audit_export_and_prune_task", float(env_int("AUDIT_EXPORT_SECONDS", 3600, minimum=60))
    ),
    "worklist-expiry": _every(
        "scheduling.tasks.worklist_expiry_task", float(env_int("WORKLIST_EXPIRY_SECONDS", 300, minimum=10))
    ),
    "mpps-stale": _every(
        "dicom_gateway.tasks.mpps_stale_task", float(env_int("WORKLIST_EXPIRY_SECONDS", 300, minimum=10))
    ),
    "reminders": _every("reminders.tasks.reminders_send_task", float(env_int("REMINDER_SECONDS", 900, minimum=60))),
    "monitoring-prune": _every("monitoring.tasks.monitoring_prune_task", 3600.0),
}

# --- Monitoring and operations (docs/operations.md) --------------------------------
# /metrics of the web app: with METRICS_TOKEN, for "Authorization: Bearer <token>" only; without it, for
# requests from this host only (behind nginx, deploy/nginx/mwl-ris.conf refuses /metrics from outside).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# The gateway's and the HL7 listener's /metrics, each on its own port (0: off), on METRICS_BIND.
METRICS_BIND = env_str("METRICS_BIND", "127.0.0.1")
MWL_METRICS_PORT = env_int("MWL_METRICS_PORT", 0, minimum=0, maximum=65535)
HL7_METRICS_PORT = env_int("HL7_METRICS_PORT", 0, minimum=0, maximum=65535)
# Services' heartbeats (monitoring.heartbeat): the SLA page's availability is measured from them.
HEARTBEAT_SECONDS = float(env_int("HEARTBEAT_SECONDS", 30, minimum=1))
MONITORING_RETENTION_DAYS = env_int("MONITORING_RETENTION_DAYS", 90, minimum=31)
# Where ris_check and /readyz find the gateway and the HL7 listener (another host in compose).
_ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104 - compared with, not bound to
MWL_CHECK_HOST = env_str("MWL_CHECK_HOST", "127.0.0.1" if MWL_BIND in _ANY_ADDRESS else MWL_BIND)
HL7_CHECK_HOST = env_str("HL7_CHECK_HOST", "127.0.0.1" if HL7_BIND in _ANY_ADDRESS else HL7_BIND)
# scripts/backup writes here; ris_check wants a backup younger than BACKUP_MAX_AGE_HOURS.
BACKUP_DIR = env_str("BACKUP_DIR", str(VAR_DIR / "backups"))
BACKUP_MAX_AGE_HOURS = env_int("BACKUP_MAX_AGE_HOURS", 26, minimum=1)
BACKUP_KEEP_DAYS = env_int("BACKUP_KEEP_DAYS", 14, minimum=1)  # older backup folders are removed
# ris_check: the least free space for the audit archive and the database, and the greatest clock skew.
CHECK_MIN_FREE_MB = env_int("CHECK_MIN_FREE_MB", 1024, minimum=0)
CHECK_MAX_CLOCK_SKEW_SECONDS = env_int("CHECK_MAX_CLOCK_SKEW_SECONDS", 5, minimum=1)

# LOG_FORMAT=json: one JSON object per line (python-json-logger), for a log collector.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(process)d %(threadName)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        },
    },
    "filters": {"refusal_without_traceback": {"()": "mwl_ris.lib.logfilters.RefusalWithoutTraceback"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["refusal_without_traceback"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pynetdicom": {"level": env_str("PYNETDICOM_LOG_LEVEL", "WARNING")},
    },
}

# Patient IDs generated for patients registered here without one: prefix + 7 digits.
RIS_PATIENT_ID_PREFIX = env_str("RIS_PATIENT_ID_PREFIX", "RIS")
