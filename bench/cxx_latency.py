#!/usr/bin/env python
"""C-FIND latency measured with a C++ client (bench/cfind_client.cc, DCMTK's
DcmSCU): the shared query mix's queries, each repetition on a fresh
association, timed inside one process. Separates the server's time from the
pynetdicom client's (~0.7 ms per response) and from findscu's process start.

    bench/cxx_latency.py run --label mwl_gateway --port 11112 --data var/bench/data/N100000 --n 100000 \
        --queries Q1,Q2,Q4 --reps 30 --max-seconds 5 --json-out var/bench/results.jsonl
    bench/cxx_latency.py paired --label mwl_gateway,dcmtk_wlmscpfs --port 11112 --port-b 11113 \
        --data var/bench/data/N100 --n 100 --queries Q1,Q4 --rounds 10 --reps 10
    bench/cxx_latency.py report var/bench/results.jsonl

Builds the client into var/cfind_client on first use (needs g++ and libdcmtk-dev).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "var" / "cfind_client"
SOURCE = ROOT / "bench" / "cfind_client.cc"


def build_client() -> None:
    if CLIENT.exists() and CLIENT.stat().st_mtime >= SOURCE.stat().st_mtime:
        return
    CLIENT.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["g++", "-O2", "-std=c++17", "-o", str(CLIENT), str(SOURCE), "-ldcmnet", "-ldcmdata", "-loflog", "-lofstd"],
        check=True,
    )


def queries(data: str, names: str, aet: str) -> list[tuple[str, int | None, list[str]]]:
    """(name, expected matches, findscu -k keys) from the shared query mix."""
    listing = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench/peers/query_mix.py"),
            "findscu",
            "--data",
            data,
            "--queries",
            names,
            "--aet",
            aet,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    out = []
    for line in listing.splitlines():
        name, expected, command = line.split("\t")
        words = shlex.split(command)
        keys = [words[i + 1] for i, w in enumerate(words) if w == "-k"]
        out.append((name, int(expected) if expected else None, keys))
    return out


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def cmd_run(args: argparse.Namespace) -> None:
    build_client()
    for name, expected, keys in queries(args.data, args.queries, args.aet):
        run = subprocess.run(
            [
                str(CLIENT),
                args.host,
                str(args.port),
                args.calling_aet,
                args.aet,
                str(args.reps),
                str(args.max_seconds),
                *keys,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            print(f"{args.label} {name}: client failed: {run.stderr.strip()}", file=sys.stderr)
            continue
        result = json.loads(run.stdout)
        ms = result["ms"]
        record = {
            "kind": "cxx-latency",
            "label": args.label,
            "n_items": args.n,
            "query": name,
            "matches": result["matches"],
            "expected": expected,
            "ok": expected is None or result["matches"] == expected,
            "reps": len(ms),
            # the first answer (the untimed check run before the repetitions): nothing cached for it yet
            "first_ms": round(result["first_ms"], 1),
            "median_ms": round(statistics.median(ms), 1),
            "p95_ms": round(percentile(ms, 95), 1),
        }
        print(json.dumps(record), file=sys.stderr)
        if args.json_out:
            with open(args.json_out, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")


def cmd_throughput(args: argparse.Namespace) -> None:
    """``--concurrency`` client processes looping on the first query for ``--duration`` seconds."""
    build_client()
    name, expected, keys = queries(args.data, args.queries.split(",")[0], args.aet)[0]
    command = [str(CLIENT), args.host, str(args.port), args.calling_aet, args.aet, "1000000", str(args.duration)]
    clients = [
        subprocess.Popen([*command, *keys], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(args.concurrency)
    ]
    results = [json.loads(client.communicate()[0]) for client in clients]
    ms = [t for r in results for t in r["ms"]]
    elapsed = max(sum(r["ms"]) for r in results) / 1000
    record = {
        "kind": "cxx-throughput",
        "label": args.label,
        "n_items": args.n,
        "query": name,
        "concurrency": args.concurrency,
        "ok": all(expected is None or r["matches"] == expected for r in results),
        "queries": len(ms),
        "qps": round(len(ms) / elapsed, 1),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 95), 1),
    }
    print(json.dumps(record), file=sys.stderr)
    if args.json_out:
        with open(args.json_out, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def _median_of(port: int, args: argparse.Namespace, keys: list[str], reps: int) -> float:
    run = subprocess.run(
        [str(CLIENT), args.host, str(port), args.calling_aet, args.aet, str(reps), "60", *keys],
        capture_output=True,
        text=True,
        check=True,
    )
    return statistics.median(json.loads(run.stdout)["ms"])


def cmd_paired(args: argparse.Namespace) -> None:
    """Two servers running at once, measured in alternation (A, B, A, B…), so
    that the machine's drift (±30 % here between runs) falls on both alike:
    the median of the per-round ratios A/B."""
    build_client()
    label_a, label_b = args.label.split(",")
    port_b = args.port_b
    for name, expected, keys in queries(args.data, args.queries, args.aet):
        rounds = []
        for _ in range(args.rounds):
            a = _median_of(args.port, args, keys, args.reps)
            b = _median_of(port_b, args, keys, args.reps)
            rounds.append((a, b))
        record = {
            "kind": "cxx-paired",
            "labels": [label_a, label_b],
            "n_items": args.n,
            "query": name,
            "expected": expected,
            "rounds": len(rounds),
            "reps_per_round": args.reps,
            "median_a_ms": round(statistics.median(a for a, _ in rounds), 2),
            "median_b_ms": round(statistics.median(b for _, b in rounds), 2),
            "ratio_a_over_b": round(statistics.median(a / b for a, b in rounds), 3),
        }
        print(json.dumps(record), file=sys.stderr)
        if args.json_out:
            with open(args.json_out, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")


def _table(title: str, header: list[str], align: str, lines: list[list[object]]) -> None:
    if not lines:
        return
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if c == "r" else "---" for c in align) + "|")
    for line in lines:
        print("| " + " | ".join(str(cell) for cell in line) + " |")


def cmd_report(path: str) -> None:
    with open(path, encoding="utf-8") as results:
        records = [json.loads(line) for line in results if '"kind": "cxx-' in line]
    kind = {name: [r for r in records if r["kind"] == name] for name in ("cxx-latency", "cxx-throughput", "cxx-paired")}
    _table(
        "Throughput with the C++ client (concurrent processes looping on one query), q/s (median / p95 ms)",
        ["N", "query", "clients", "server", "q/s", "median / p95 ms", "answers"],
        "rlrlrll",
        [
            [
                r["n_items"],
                r["query"],
                r["concurrency"],
                r["label"],
                r["qps"],
                f"{r['median_ms']} / {r['p95_ms']}",
                "ok" if r["ok"] else "WRONG",
            ]
            for r in kind["cxx-throughput"]
        ],
    )
    _table(
        "Paired, in alternation (median of per-round medians, ms; ratio = median of per-round ratios)",
        ["N", "query", "A", "B", "A ms", "B ms", "A/B"],
        "rlllrrr",
        [
            [
                r["n_items"],
                r["query"],
                *r["labels"],
                r["median_a_ms"],
                r["median_b_ms"],
                f"{r['ratio_a_over_b']} ({r['rounds']} rounds of {r['reps_per_round']})",
            ]
            for r in kind["cxx-paired"]
        ],
    )
    _table(
        "C-FIND latency with the C++ client (DcmSCU; fresh association per query), median / p95 ms (reps)",
        ["N", "query", "matches", "server", "first ms", "median / p95 ms", "answer"],
        "rlrlrll",
        [
            [
                r["n_items"],
                r["query"],
                r["matches"],
                r["label"],
                r.get("first_ms", ""),
                f"{r['median_ms']} / {r['p95_ms']} ({r['reps']})",
                "ok" if r["ok"] else f"expected {r['expected']}",
            ]
            for r in kind["cxx-latency"]
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["run", "throughput", "paired", "report"])
    parser.add_argument("path", nargs="?")
    parser.add_argument("--label", default="scp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11112)
    parser.add_argument("--aet", default="WLM")
    parser.add_argument("--calling-aet", default="BENCHSCU")
    parser.add_argument("--data")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--queries", default="Q1,Q2,Q4")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--max-seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--port-b", type=int, default=11113, help="paired: the second server")
    parser.add_argument("--rounds", type=int, default=10, help="paired: alternations")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    if args.mode == "report":
        cmd_report(args.path)
    elif args.mode == "throughput":
        cmd_throughput(args)
    elif args.mode == "paired":
        cmd_paired(args)
    else:
        cmd_run(args)


if __name__ == "__main__":
    main()
