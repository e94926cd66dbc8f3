#!/usr/bin/env bash
# Install the mini-RIS on one Debian 12 or Ubuntu 24.04 server, without Docker (docs/installation.md):
# system packages, the mwl-ris user, the code in PREFIX with its virtual environment, the PostgreSQL
# database, /etc/mwl-ris/mwl-ris.env, the systemd units, the nginx site, then `ris_check`.
#
#   sudo deploy/install.sh --server-name ris.hospital.local            # install and start
#   sudo deploy/install.sh --dry-run                                   # print what it would do, change nothing
#   deploy/install.sh --root /tmp/scratch --prefix "$PWD"              # write the files into a scratch root only
#   sudo deploy/install.sh --edge KIB --central 10.8.0.1                 # an edge node for site KIB (docs/edge.md)
#
# Run it again to upgrade: it keeps mwl-ris.env (the secret key, the passwords) and the data, installs the
# new code and requirements, migrates and restarts.
set -euo pipefail

PREFIX=/opt/mwl-ris
ROOT=""
DRY_RUN=0
SERVER_NAME="$(hostname -f 2>/dev/null || hostname)"
DB_NAME=mwl_ris
DB_USER=mwl_ris
SOURCE="$(cd "$(dirname "$0")/.." && pwd)"
EDGE_SITE=""  # an edge node (docs/edge.md): the gateway and the forwarder only, on a replica of the site
CENTRAL=""

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root) ROOT="${2:?--root needs a folder}"; shift ;;
        --prefix) PREFIX="${2:?--prefix needs a folder}"; shift ;;
        --server-name) SERVER_NAME="${2:?--server-name needs a name}"; shift ;;
        --db-name) DB_NAME="${2:?}"; shift ;;
        --edge) EDGE_SITE="$(printf '%s' "${2:?--edge needs the site code}" | tr '[:lower:]' '[:upper:]')"; shift ;;
        --central) CENTRAL="${2:?--central needs the address of the centre}"; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 ;;
    esac
    shift
done
if [ -n "$EDGE_SITE" ] && [ -z "$CENTRAL" ]; then echo "--edge needs --central ADDRESS (the centre over the VPN)" >&2; exit 2; fi

say() { printf '[install] %s\n' "$*"; }
# A command that changes the system: printed in a dry run or a scratch root, run otherwise.
SECRET=""  # never printed
run() {
    if [ "$DRY_RUN" = 1 ] || [ -n "$ROOT" ]; then
        local shown="$*"
        [ -n "$SECRET" ] && shown="${shown//$SECRET/********}"
        printf '+ %s\n' "$shown"
    else
        "$@"
    fi
}
# A file this installer owns: written under ROOT (a scratch root) or /, printed in a dry run.
put() {  # put DEST MODE < content
    local dest="$ROOT$1" mode="$2"
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ write %s (mode %s)\n' "$1" "$mode"
        cat > /dev/null
        return
    fi
    mkdir -p "$(dirname "$dest")"
    cat > "$dest"
    chmod "$mode" "$dest"
}
template() { sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@SERVER_NAME@|$SERVER_NAME|g" "$1"; }

if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "run as root (sudo), or with --dry-run / --root DIR" >&2; exit 1; }
    . /etc/os-release
    case "$ID:$VERSION_ID" in
        debian:12|ubuntu:24.04) ;;
        *) echo "warning: tested on Debian 12 and Ubuntu 24.04, this is $PRETTY_NAME" >&2 ;;
    esac
fi

say "1/8 system packages"
run apt-get update -qq
if [ -n "$EDGE_SITE" ]; then  # no web app, broker or Celery at an edge
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-dev build-essential \
        postgresql postgresql-client dcmtk openssl
else
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-dev build-essential \
        postgresql postgresql-client redis-server nginx dcmtk openssl
fi

say "2/8 the mwl-ris user and folders"
if ! id mwl-ris >/dev/null 2>&1; then
    run useradd --system --home-dir /var/lib/mwl-ris --shell /usr/sbin/nologin mwl-ris
fi
for folder in /var/lib/mwl-ris /var/lib/mwl-ris/gateway-journal /var/lib/mwl-ris/audit /var/backups/mwl-ris /etc/mwl-ris/tls; do
    if [ -n "$ROOT" ] && [ "$DRY_RUN" = 0 ]; then mkdir -p "$ROOT$folder"; fi
    run install -d -o mwl-ris -g mwl-ris -m 0750 "$folder"
done

say "3/8 the code in $PREFIX and its virtual environment"
if [ "$SOURCE" != "$PREFIX" ]; then
    run mkdir -p "$PREFIX"
    run cp -a "$SOURCE/." "$PREFIX/"
    run rm -rf "$PREFIX/var" "$PREFIX/.git"
fi
run python3 -m venv "$PREFIX/.venv"
run "$PREFIX/.venv/bin/pip" install --quiet --upgrade pip
run "$PREFIX/.venv/bin/pip" install --quiet -r "$PREFIX/requirements.txt"

say "4/8 the PostgreSQL database $DB_NAME (owner $DB_USER)"
env_file="/etc/mwl-ris/mwl-ris.env"
if [ -f "$ROOT$env_file" ]; then
    say "keeping $env_file (secret key and passwords)"
    db_password="$(sed -n 's|^DATABASE_URL=postgres://[^:]*:\([^@]*\)@.*|\1|p' "$ROOT$env_file")"
else
    db_password="$(openssl rand -hex 24)"
fi
SECRET="$db_password"
edge_settings=""
if [ -n "$EDGE_SITE" ]; then
    edge_settings="# --- this is an edge node (docs/edge.md) ---
RIS_ROLE=edge
RIS_SITE=$EDGE_SITE
# paste the line that edge_setup publish --site $EDGE_SITE printed at the centre:
EDGE_CENTRAL_DATABASE_URL=
EDGE_CENTRAL_HOST=$CENTRAL
EDGE_CENTRAL_PORT=11112
EDGE_CENTRAL_AE_TITLE=RIS_MWL
EDGE_AE_TITLE=EDGE_$EDGE_SITE
EDGE_METRICS_PORT=9103"
fi
if [ ! -f "$ROOT$env_file" ]; then
    secret_key="$(openssl rand -base64 48 | tr -d '\n')"
    metrics_token="$(openssl rand -hex 24)"
    put "$env_file" 0640 <<ENV
# The mini-RIS settings, read by every service (README, "Configuration"). Restart after a change:
#   systemctl restart mwl-ris.target
DJANGO_SECRET_KEY=$secret_key
DJANGO_REQUIRE_SECRET_KEY=true
DJANGO_ALLOWED_HOSTS=$SERVER_NAME,localhost,127.0.0.1
DJANGO_CSRF_TRUSTED_ORIGINS=https://$SERVER_NAME
DJANGO_HTTPS=true
DATABASE_URL=postgres://$DB_USER:$db_password@127.0.0.1:5432/$DB_NAME
REDIS_URL=redis://127.0.0.1:6379/0
TIME_ZONE=Africa/Dar_es_Salaam
MWL_VAR_DIR=/var/lib/mwl-ris
MWL_AE_TITLE=RIS_MWL
MWL_BIND=0.0.0.0
MWL_PORT=11112
MWL_WORKERS=2
MWL_METRICS_PORT=9101
HL7_BIND=0.0.0.0
HL7_PORT=2575
HL7_METRICS_PORT=9102
METRICS_TOKEN=$metrics_token
AUDIT_ARCHIVE_DIR=/var/lib/mwl-ris/audit
AUDIT_HMAC_KEY_FILE=/etc/mwl-ris/audit-hmac.key
BACKUP_DIR=/var/backups/mwl-ris
BACKUP_KEEP_DAYS=14
$edge_settings
ENV
    run chown root:mwl-ris "$env_file"
fi
run runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -c \
    "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN CREATE ROLE $DB_USER LOGIN PASSWORD '$db_password'; END IF; END\$\$;"
if [ -n "$ROOT" ] || [ "$DRY_RUN" = 1 ] || ! runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1; then
    run runuser -u postgres -- createdb --owner "$DB_USER" "$DB_NAME"
fi
run runuser -u postgres -- psql -q -d "$DB_NAME" -c "CREATE EXTENSION IF NOT EXISTS btree_gist"

say "5/8 the audit key, migrations and static files"
# manage ARGS: a manage.py command as the mwl-ris user, with the services' settings
manage() { run runuser -u mwl-ris -- bash -c "set -a; . '$env_file'; set +a; cd '$PREFIX' && exec .venv/bin/python manage.py $*"; }
key=/etc/mwl-ris/audit-hmac.key
if [ ! -f "$ROOT$key" ]; then  # the audit trail's HMAC key: outside the database, backed up apart (docs/security.md)
    openssl rand -hex 32 | put "$key" 0640
fi
run chown root:mwl-ris "$key"
manage migrate --no-input
manage collectstatic --no-input --verbosity 0

say "6/8 the systemd units"
for unit in "$SOURCE"/deploy/systemd/*; do
    name="$(basename "$unit")"
    case "$EDGE_SITE:$name" in
        :mwl-ris-edge*) continue ;;  # the centre: no edge units
        ?*:mwl-ris-gateway.service|?*:mwl-ris-edge*) ;;  # an edge: the gateway and its own units only
        ?*:*) continue ;;
    esac
    template "$unit" | put "/etc/systemd/system/$name" 0644
done
run systemctl daemon-reload
if [ -n "$EDGE_SITE" ]; then
    run systemctl enable mwl-ris-edge.target mwl-ris-gateway.service mwl-ris-edge-forward.service
    say "done (edge node $EDGE_SITE). Next, as in docs/edge.md: put EDGE_CENTRAL_DATABASE_URL in $env_file, then"
    say "  sudo -u postgres env \$(grep -v '^#' $env_file | xargs) DATABASE_URL=postgres:///$DB_NAME?host=/var/run/postgresql \\"
    say "      $PREFIX/.venv/bin/python $PREFIX/manage.py edge_setup subscribe"
    say "  systemctl start mwl-ris-edge.target"
    say "  runuser -u mwl-ris -- bash -c 'set -a; . $env_file; set +a; cd $PREFIX && .venv/bin/python manage.py ris_check'"
    exit 0
fi
run systemctl enable --now mwl-ris.target mwl-ris-web.service mwl-ris-gateway.service mwl-ris-hl7.service \
    mwl-ris-worker.service mwl-ris-beat.service mwl-ris-backup.timer
run systemctl restart mwl-ris.target

say "7/8 the nginx site (https://$SERVER_NAME/)"
template "$SOURCE/deploy/nginx/mwl-ris.conf" | put /etc/nginx/sites-available/mwl-ris 0644
if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ ! -f /etc/mwl-ris/tls/web.pem ]; then
    say "no certificate yet: a self-signed one for now; replace it with the site CA's (docs/security.md)"
    openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=$SERVER_NAME" \
        -addext "subjectAltName=DNS:$SERVER_NAME" -keyout /etc/mwl-ris/tls/web.key -out /etc/mwl-ris/tls/web.pem
fi
run ln -sf /etc/nginx/sites-available/mwl-ris /etc/nginx/sites-enabled/mwl-ris
run nginx -t
run systemctl reload nginx

say "8/8 the set-up check"
manage ris_backup
manage audit_verify
manage ris_check
say "done. Next: python manage.py createsuperuser (docs/installation.md), then register the stations."
