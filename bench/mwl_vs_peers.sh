#!/usr/bin/env bash
# C-FIND benchmark: mwl_gateway (PostgreSQL) against DCMTK wlmscpfs and Orthanc's
# worklist plugin (when installed: apt-get install orthanc) on the same generated items, with the shared
# query mix (bench/peers/query_mix.py: latency, throughput, correctness checks).
#
#   bench/mwl_vs_peers.sh                 # SIZES=100,10000,100000
#   SIZES=100,10000 REPS=30 LAT_BUDGET=5 TP_SECONDS=10 CONC=8 bench/mwl_vs_peers.sh
#   PEERS=mwl_gateway bench/mwl_vs_peers.sh   # only some servers (mwl_gateway,dcmtk,orthanc)
#   CLIENTS=cxx SIZES=100,100000 bench/mwl_vs_peers.sh   # only the C++ client's latency
#   CLIENTS=cxx CXX_QUERIES=Q1,Q5 SIZES=100,10000 bench/mwl_vs_peers.sh   # some queries (Q5 up to Q5_MAX_N items)
#   PAIRED=Q1,Q4 CLIENTS=cxx SIZES=100 PEERS=mwl_gateway,dcmtk bench/mwl_vs_peers.sh   # + gateway and wlmscpfs
#       running together, measured in alternation (PAIRED_ROUNDS rounds of PAIRED_REPS): robust to drift
#
# Runs inside a private network namespace holding only loopback (wlmscpfs and
# Orthanc cannot bind to 127.0.0.1 only); PostgreSQL is reached by its Unix socket.
# Needs root, dcmtk, a running PostgreSQL, and .venv (scripts/bootstrap).
# Prints a markdown table; raw JSON lines in $WORK/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MWL_BENCH_NETNS:-}" ]; then
    exec env MWL_BENCH_NETNS=1 unshare --net -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
SIZES="${SIZES:-100,10000,100000}"
REPS="${REPS:-30}"
LAT_BUDGET="${LAT_BUDGET:-5}"
TP_SECONDS="${TP_SECONDS:-10}"
CONC="${CONC:-8}"
WORK="${WORK:-var/bench}"
PEERS="${PEERS:-mwl_gateway,dcmtk,orthanc}"  # which servers to measure
# Clients: the shared query mix (pynetdicom: latency, throughput, checks) and/or
# bench/cfind_client.cc (C++, DCMTK DcmSCU: latency; needs g++ and libdcmtk-dev).
CLIENTS="${CLIENTS:-pynetdicom,cxx}"
PY=.venv/bin/python
DB=mwl_ris_bench_mwl
PGSOCK=/var/run/postgresql
export DATABASE_URL="postgres://postgres@%2Fvar%2Frun%2Fpostgresql/$DB"
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-bench-only-secret-key-0123456789-abcdefghijklmnop}"
export LOG_LEVEL=WARNING
mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
say() { printf '[bench] %s\n' "$*" >&2; }
# Orthanc's worklist plugin is measured too when installed (apt-get install orthanc).
ORTHANC_BIN="${ORTHANC_BIN:-$(command -v Orthanc || ls /usr/sbin/Orthanc 2>/dev/null || true)}"
ORTHANC_WL_PLUGIN="${ORTHANC_WL_PLUGIN:-$(ls /usr/share/orthanc/plugins/libModalityWorklists.so 2>/dev/null || true)}"

say "generating items: $SIZES"
$PY bench/peers/gen_worklist.py --out "$WORK/data" --sizes "$SIZES" --aet WLM >/dev/null

wait_echo() {  # port
    for _ in $(seq 1 600); do
        echoscu -aet BENCHSCU -aec WLM 127.0.0.1 "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
# CLIENT_NODELAY=0: the pynetdicom client leaves Nagle's algorithm on (bench/nagle.sh)
qm() {
    local nodelay=(--nodelay)
    [ "${CLIENT_NODELAY:-1}" = 1 ] || nodelay=()
    $PY bench/peers/query_mix.py "$@" --aet WLM "${nodelay[@]}" --json-out "$RESULTS" >/dev/null
}
measure() {  # label port n
    local label="$1" port="$2" n="$3" data="$WORK/data/N$3" queries="Q1,Q2,Q3,Q4,Q5"
    if [[ ",$CLIENTS," == *,cxx,* ]]; then
        # the universal query Q5 returns every item: only up to Q5_MAX_N items
        local cxx_queries="${CXX_QUERIES:-Q1,Q2,Q4,Q5}"
        [ "$n" -le "${Q5_MAX_N:-10000}" ] || cxx_queries="${cxx_queries/,Q5/}"
        say "$label N=$n: latency with the C++ client ($cxx_queries)"
        $PY bench/cxx_latency.py run --label "$label" --port "$port" --data "$data" --n "$n" --queries "$cxx_queries" \
            --reps "$REPS" --max-seconds "$LAT_BUDGET" --json-out "$RESULTS"
        say "$label N=$n: throughput with the C++ client ($CONC clients, ${TP_SECONDS}s)"
        $PY bench/cxx_latency.py throughput --label "$label" --port "$port" --data "$data" --n "$n" --queries Q1 \
            --concurrency "$CONC" --duration "$TP_SECONDS" --json-out "$RESULTS"
    fi
    [[ ",$CLIENTS," == *,pynetdicom,* ]] || return 0
    # the universal query Q5 returns every item: only at small N, as in the shared peer run
    [ "$n" -le "${Q5_MAX_N:-10000}" ] || queries="Q1,Q2,Q3,Q4"
    say "$label N=$n: latency ($queries)"
    qm latency --label "$label" --port "$port" --data "$data" --reps "$REPS" --max-seconds "$LAT_BUDGET" \
        --queries "$queries"
    say "$label N=$n: throughput ($CONC clients, ${TP_SECONDS}s)"
    qm throughput --label "$label" --port "$port" --data "$data" --concurrency "$CONC" --duration "$TP_SECONDS"
}

IFS=, read -ra sizes <<< "$SIZES"
for n in "${sizes[@]}"; do
    say "N=$n: loading the RIS database"
    psql -h "$PGSOCK" -U postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
    $PY manage.py migrate -v0
    $PY bench/load_worklist.py "$WORK/data/N$n/items.ndjson" >&2
    psql -h "$PGSOCK" -U postgres -d "$DB" -qc "VACUUM ANALYZE" >/dev/null

    if [[ ",$PEERS," == *,mwl_gateway,* ]]; then
    DATABASE_POOL=true MWL_ALLOW_ANY_CALLING_AE=true $PY manage.py mwl_gateway --ae-title WLM --port 11112 --bind 127.0.0.1 \
        --workers "${MWL_WORKERS:-2}" \
        > "$WORK/gateway-N$n.log" 2>&1 &
    gw=$!
    wait_echo 11112
    measure "${GW_LABEL:-mwl_gateway}" 11112 "$n"
    kill "$gw"; wait "$gw" 2>/dev/null || true
    fi

    if [ -n "${PAIRED:-}" ] && [[ ",$PEERS," == *,mwl_gateway,* && ",$PEERS," == *,dcmtk,* ]]; then
        say "N=$n: gateway and wlmscpfs together, in alternation ($PAIRED)"
        DATABASE_POOL=true MWL_ALLOW_ANY_CALLING_AE=true $PY manage.py mwl_gateway --ae-title WLM --port 11112 \
            --bind 127.0.0.1 --workers "${MWL_WORKERS:-2}" > "$WORK/gateway-paired-N$n.log" 2>&1 &
        gw=$!
        TCP_NODELAY=1 wlmscpfs -csk -dfp "$WORK/data/N$n" 11113 > "$WORK/wlmscpfs-paired-N$n.log" 2>&1 &
        wl=$!
        wait_echo 11112
        wait_echo 11113
        $PY bench/cxx_latency.py paired --label mwl_gateway,dcmtk_wlmscpfs --port 11112 --port-b 11113 \
            --data "$WORK/data/N$n" --n "$n" --queries "$PAIRED" --rounds "${PAIRED_ROUNDS:-10}" \
            --reps "${PAIRED_REPS:-10}" --json-out "$RESULTS"
        kill "$gw" "$wl"; wait "$gw" "$wl" 2>/dev/null || true
    fi

    if [[ ",$PEERS," == *,dcmtk,* ]]; then
    TCP_NODELAY=1 wlmscpfs -csk -dfp "$WORK/data/N$n" 11113 > "$WORK/wlmscpfs-N$n.log" 2>&1 &
    wl=$!
    wait_echo 11113
    measure dcmtk_wlmscpfs 11113 "$n"
    kill "$wl"; wait "$wl" 2>/dev/null || true
    fi

    if [[ ",$PEERS," == *,orthanc,* ]] && [ -n "$ORTHANC_BIN" ] && [ -n "$ORTHANC_WL_PLUGIN" ]; then
        odir="$WORK/orthanc-N$n"
        mkdir -p "$odir/db"
        cat > "$odir/config.json" <<JSON
{
  "Name": "MWLBENCH", "StorageDirectory": "$odir/db", "IndexDirectory": "$odir/db",
  "Plugins": ["$ORTHANC_WL_PLUGIN"], "Worklists": {"Enable": true, "Database": "$PWD/$WORK/data/N$n/WLM"},
  "HttpServerEnabled": false, "RemoteAccessAllowed": false, "WebDavEnabled": false,
  "DicomServerEnabled": true, "DicomAet": "WLM", "DicomPort": 11114,
  "DicomAlwaysAllowEcho": true, "DicomAlwaysAllowFindWorklist": true,
  "DefaultEncoding": "Utf8", "MetricsEnabled": false
}
JSON
        TCP_NODELAY=1 "$ORTHANC_BIN" "$odir/config.json" > "$odir/orthanc.log" 2>&1 &
        oc=$!
        wait_echo 11114
        measure orthanc_worklists 11114 "$n"
        kill "$oc"; wait "$oc" 2>/dev/null || true
    fi
done
psql -h "$PGSOCK" -U postgres -qc "DROP DATABASE IF EXISTS $DB" >/dev/null
$PY bench/peers/query_mix.py report "$RESULTS"
$PY bench/cxx_latency.py report "$RESULTS"
