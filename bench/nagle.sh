#!/usr/bin/env bash
# Nagle's algorithm and delayed ACK: C-FIND latency of mwl_gateway with TCP_NODELAY on and off, on the server
# (MWL_TCP_NODELAY) and on the client (the shared query mix's pynetdicom client), at 100 items.
#
#   bench/nagle.sh                    # REPS=30; about 5 minutes
#
# Runs bench/mwl_vs_peers.sh four times (gateway only, pynetdicom client) and prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${WORK:-var/bench-nagle}"
SIZE="${SIZE:-100}"
mkdir -p "$WORK"
: > "$WORK/all.jsonl"
for server in 1 0; do
    for client in 1 0; do
        label="server_nodelay=${server}_client_nodelay=${client}"
        printf '[nagle] %s\n' "$label" >&2
        MWL_TCP_NODELAY=$([ "$server" = 1 ] && echo true || echo false) CLIENT_NODELAY="$client" \
            GW_LABEL="$label" PEERS=mwl_gateway CLIENTS=pynetdicom SIZES="$SIZE" Q5_MAX_N=0 \
            WORK="$WORK/$label" bash bench/mwl_vs_peers.sh > /dev/null
        cat "$WORK/$label/results.jsonl" >> "$WORK/all.jsonl"
    done
done
.venv/bin/python bench/peers/query_mix.py report "$WORK/all.jsonl"
