#!/usr/bin/env python3
"""MWL C-FIND query mix: latency, throughput and correctness against any MWL SCP.

Client side of the MWL benchmark (pynetdicom 3.x). Points at any Modality
Worklist SCP with --host/--port/--aet. With --data (a folder written by
gen_worklist.py: meta.json + items.ndjson) it derives the query parameters from
the data and computes the expected answer of every query by standard DICOM
matching, so each response set is checked (count AND the AccessionNumbers).

Queries (all with the usual return keys present and empty):
  Q1  "my day list": ScheduledStationAETitle + SPS start date + Modality
  Q2  SPS start date range today..today+2 for one modality
  Q3  PatientName wildcard "MWA*"
  Q4  PatientID exact
  Q5  universal (no matching keys) - everything

Modes:
  latency      each query --reps times, a fresh association per query
               (associate, C-FIND, read all responses, release), like a modality
  throughput   --concurrency worker processes loop over --tp-queries for
               --duration seconds (bounded: --tp-max per worker), fresh association
               per query
  probes       matching-behaviour probes (case, sequence filtering, ranges,
               charsets), run once each, compared with standard matching
  findscu      print the equivalent DCMTK findscu command line of each query
  report       turn the JSON-lines results file into a markdown table

Examples:
  python query_mix.py latency --data data/N100 --port 11112 --aet WLM --reps 30
  python query_mix.py throughput --data data/N100 --port 11112 --concurrency 8 --duration 10
  python query_mix.py probes --data data/N100 --port 11112
  python query_mix.py findscu --data data/N100 --port 11112
  python query_mix.py report results.jsonl
"""

import argparse
import json
import multiprocessing as mp
import os
import re
import shlex
import socket
import statistics
import sys
import time
import datetime as dt

from pydicom.datadict import dictionary_VR
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

TOP_RETURN_KEYS = [
    "AccessionNumber",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "RequestedProcedurePriority",
]
SPS_RETURN_KEYS = [
    "Modality",
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepID",
    "ScheduledStationName",
    "ScheduledProcedureStepLocation",
]
SPS = "ScheduledProcedureStepSequence"
PENDING = (0xFF00, 0xFF01)


# ----------------------------------------------------------------- queries
class Query:
    def __init__(self, name, desc, top=None, sps=None, charset=None, universal=False):
        self.name, self.desc = name, desc
        self.top = dict(top or {})  # matching keys at top level
        self.sps = dict(sps or {})  # matching keys inside the SPS item
        self.charset = charset  # SpecificCharacterSet of the query
        self.universal = universal
        self.expected = None  # sorted list of AccessionNumbers

    def identifier(self):
        ds = Dataset()
        if self.charset:
            ds.SpecificCharacterSet = self.charset
        for kw in TOP_RETURN_KEYS:
            setattr(ds, kw, self.top.get(kw, ""))
        for kw, v in self.top.items():
            setattr(ds, kw, v)
        item = Dataset()
        for kw in SPS_RETURN_KEYS:
            setattr(item, kw, self.sps.get(kw, ""))
        for kw, v in self.sps.items():
            setattr(item, kw, v)
        setattr(ds, SPS, [item])
        return ds

    def findscu_keys(self):
        keys = []
        if self.charset:
            keys.append(f"SpecificCharacterSet={self.charset}")
        for kw in TOP_RETURN_KEYS + [k for k in self.top if k not in TOP_RETURN_KEYS]:
            v = self.top.get(kw, "")
            keys.append(f"{kw}={v}" if v else kw)
        for kw in SPS_RETURN_KEYS + [k for k in self.sps if k not in SPS_RETURN_KEYS]:
            v = self.sps.get(kw, "")
            keys.append(f"{SPS}[0].{kw}={v}" if v else f"{SPS}[0].{kw}")
        return keys


def _vr(kw):
    return dictionary_VR(tag_for_keyword(kw))


def ref_value_match(q, d, vr, case_insensitive=False):
    """Standard DICOM matching of one non-empty key value q against data value d."""
    d = (d or "").strip()
    q = q.strip()
    if case_insensitive:
        q, d = q.upper(), d.upper()
    if vr in ("DA", "TM", "DT") and "-" in q:
        lo, _, hi = q.partition("-")
        return bool(d) and (not lo or d >= lo) and (not hi or d <= hi)
    if "*" in q or "?" in q:
        rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in q)
        return re.fullmatch(rx, d, re.S) is not None
    return d == q


def ref_match(query, item, case_insensitive_pn=False):
    for kw, q in query.top.items():
        if q == "":
            continue
        vr = _vr(kw)
        if not ref_value_match(q, item.get(kw), vr, case_insensitive_pn and vr == "PN"):
            return False
    live = {k: v for k, v in query.sps.items() if v != ""}
    if live:
        return any(all(ref_value_match(v, sub.get(k), _vr(k)) for k, v in live.items()) for sub in item.get(SPS, []))
    return True


def load_data(folder):
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    items = []
    with open(os.path.join(folder, meta.get("ndjson", "items.ndjson")), encoding="utf-8") as f:
        for line in f:
            items.append(json.loads(line))
    return meta, items


def _day(base, delta):
    d = dt.datetime.strptime(base, "%Y%m%d").date() + dt.timedelta(days=delta)
    return d.strftime("%Y%m%d")


def pick_params(meta, items):
    """Query parameters, taken from the first 100 items so that they are the
    same for every N (the generator is prefix-stable)."""
    head = items[:100]
    base = meta["base_date"]
    # Q1: the station with most items on the busiest date among the first 100
    counts = {}
    for it in head:
        s = it[SPS][0]
        key = (s["ScheduledStationAETitle"], s["ScheduledProcedureStepStartDate"], s["Modality"])
        counts[key] = counts.get(key, 0) + 1
    (aet, date, modality), _ = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    utf8 = next(
        (it for it in items if any(ord(c) > 127 for c in it["PatientName"]) and "=" not in it["PatientName"]), None
    )
    cjk = next((it for it in items if "=" in it["PatientName"]), None)
    return {
        "base": base,
        "aet": aet,
        "date": date,
        "modality": modality,
        "range": f"{base}-{_day(base, 2)}",
        "patient_id": head[0]["PatientID"],
        "name_wild": "MWA*",
        "utf8_name": utf8["PatientName"] if utf8 else None,
        "cjk_name": cjk["PatientName"] if cjk else None,
        "ascii_name": next(it["PatientName"] for it in head if it["PatientName"].startswith("MWA")),
        "accession": head[1]["AccessionNumber"],
    }


def main_queries(p, names=None):
    qs = [
        Query(
            "Q1",
            "day list: station AE + date + modality",
            sps={
                "ScheduledStationAETitle": p["aet"],
                "ScheduledProcedureStepStartDate": p["date"],
                "Modality": p["modality"],
            },
        ),
        Query(
            "Q2",
            "date range today..today+2, one modality",
            sps={"ScheduledProcedureStepStartDate": p["range"], "Modality": p["modality"]},
        ),
        Query("Q3", "PatientName wildcard " + p["name_wild"], top={"PatientName": p["name_wild"]}),
        Query("Q4", "PatientID exact", top={"PatientID": p["patient_id"]}),
        Query("Q5", "universal (all keys empty)", universal=True),
    ]
    if names:
        qs = [q for q in qs if q.name in names]
    return qs


def probe_queries(p):
    qs = [
        Query(
            "P_case",
            "PatientName 'mwa*' lower case (std: PN may be case-insensitive)",
            top={"PatientName": p["name_wild"].lower()},
        ),
        Query(
            "P_aet_only",
            "only ScheduledStationAETitle (inside the SPS sequence)",
            sps={"ScheduledStationAETitle": p["aet"]},
        ),
        Query("P_modality_only", "only Modality (inside the SPS sequence)", sps={"Modality": p["modality"]}),
        Query("P_open_range", "open date range 'today-'", sps={"ScheduledProcedureStepStartDate": p["base"] + "-"}),
        Query(
            "P_time_range",
            "date=Q1 date + time range 0800-1159",
            sps={"ScheduledProcedureStepStartDate": p["date"], "ScheduledProcedureStepStartTime": "0800-1159"},
        ),
        Query("P_name_exact", "exact PatientName " + p["ascii_name"], top={"PatientName": p["ascii_name"]}),
        Query("P_name_q", "PatientName with '?' wildcard MWAKY?SA*", top={"PatientName": "MWAKY?SA*"}),
        Query("P_accession", "AccessionNumber exact", top={"AccessionNumber": p["accession"]}),
    ]
    if p["utf8_name"]:
        qs.append(
            Query(
                "P_utf8_exact",
                "exact UTF-8 PatientName, query ISO_IR 192",
                top={"PatientName": p["utf8_name"]},
                charset="ISO_IR 192",
            )
        )
        fam = p["utf8_name"].split("^")[0]
        qs.append(Query("P_utf8_family", f"'{fam}^*' no charset in query", top={"PatientName": fam + "^*"}))
    if p["cjk_name"]:
        qs.append(
            Query(
                "P_cjk_exact",
                "exact alphabetic=ideographic PN, query ISO_IR 192",
                top={"PatientName": p["cjk_name"]},
                charset="ISO_IR 192",
            )
        )
        fam = p["cjk_name"].split("^")[0]
        qs.append(
            Query("P_cjk_family", f"'{fam}^*' no charset in query (ideographic names)", top={"PatientName": fam + "^*"})
        )
    return qs


def attach_expected(queries, items):
    for q in queries:
        hits = [it for it in items if ref_match(q, it)]
        q.expected = sorted(it["AccessionNumber"] for it in hits)
        q.nonascii = {
            it["AccessionNumber"]: it["PatientName"] for it in hits if any(ord(c) > 127 for c in it["PatientName"])
        }
        q.expected_ci = sum(1 for it in items if ref_match(q, it, case_insensitive_pn=True))


# ------------------------------------------------------------------ client
def make_ae(calling, nodelay=False, timeout=300):
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    if nodelay:
        _enable_nodelay()
    ae = AE(ae_title=calling)
    ae.add_requested_context(ModalityWorklistInformationFind)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    return ae


_NODELAY = False


def _enable_nodelay():
    global _NODELAY
    if _NODELAY:
        return
    from pynetdicom import transport

    orig = transport.AssociationSocket._create_socket

    def patched(self, address):
        sock = orig(self, address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    transport.AssociationSocket._create_socket = patched
    _NODELAY = True


def run_one(ae, host, port, aet, ident, collect=True):
    """One modality-style query: associate, C-FIND, drain, release.
    Returns (n_pending, accessions, final_status, charset_info, error)."""
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    assoc = ae.associate(host, port, ae_title=aet)
    if not assoc.is_established:
        return 0, [], None, {}, "association rejected/failed"
    n, accs, final, cs = 0, [], None, {}
    err = None
    try:
        for status, rsp in assoc.send_c_find(ident, ModalityWorklistInformationFind):
            if status is None or "Status" not in status:
                err = "no/invalid response (timeout or abort)"
                break
            st = status.Status
            if st in PENDING:
                n += 1
                if collect and rsp is not None:
                    acc = str(rsp.get("AccessionNumber", ""))
                    accs.append(acc)
                    if collect == "names":
                        try:
                            name = str(rsp.get("PatientName", ""))
                        except Exception as e:  # undecodable bytes
                            name = f"<undecodable: {e!r}>"
                        cs[acc] = (name, str(rsp.get("SpecificCharacterSet", "")))
            else:
                final = st
    finally:
        if assoc.is_established:
            assoc.release()
    if final not in (0x0000,) and err is None:
        err = f"final status 0x{final:04X}" if final is not None else "no final status"
    return n, accs, final, cs, err


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def verdict(q, n, accs):
    if q.expected is None:
        return "n/a"
    if n == len(q.expected) and sorted(accs) == q.expected:
        return "ok"
    if n == len(q.expected):
        return "count-ok/content-differs"
    return f"WRONG({n} vs {len(q.expected)})"


def cmd_latency(args, queries):
    ae = make_ae(args.calling_aet, args.nodelay)
    out = []
    for q in queries:
        ident = q.identifier()
        lat, counts, errs = [], [], []
        first_verdict = None
        budget_end = time.perf_counter() + args.max_seconds
        for rep in range(args.reps):
            # the first repetition also decodes every AccessionNumber and checks
            # the full answer set against the expected one
            collect = True if rep == 0 else args.check_every
            t0 = time.perf_counter()
            n, accs, _, _, err = run_one(ae, args.host, args.port, args.aet, ident, collect=collect)
            lat.append((time.perf_counter() - t0) * 1000.0)
            counts.append(n)
            if rep == 0:
                first_verdict = verdict(q, n, accs) if not err else f"ERROR: {err}"
            if err:
                errs.append(err)
            if time.perf_counter() > budget_end:
                break
        exp = len(q.expected) if q.expected is not None else None
        rec = {
            "kind": "latency",
            "label": args.label,
            "n_items": args.n_items,
            "query": q.name,
            "nodelay": args.nodelay,
            "desc": q.desc,
            "reps": len(lat),
            "median_ms": round(statistics.median(lat), 2) if lat else None,
            "p95_ms": round(pct(lat, 95), 2) if lat else None,
            "min_ms": round(min(lat), 2) if lat else None,
            "max_ms": round(max(lat), 2) if lat else None,
            "matches": counts[0] if counts else None,
            "expected": exp,
            "counts_stable": len(set(counts)) <= 1,
            "check": first_verdict,
            "errors": len(errs),
            "first_error": errs[0] if errs else None,
            "truncated_by_budget": len(lat) < args.reps,
        }
        out.append(rec)
        print(
            f"{args.label:>10} N={args.n_items:<6} {q.name} reps={rec['reps']:>3} "
            f"median={rec['median_ms']}ms p95={rec['p95_ms']}ms matches={rec['matches']} "
            f"expected={exp} {first_verdict}",
            file=sys.stderr,
            flush=True,
        )
    return out


def _tp_worker(args_tuple):
    (host, port, aet, calling, nodelay, idents, start_at, deadline, max_q, wid) = args_tuple
    ae = make_ae(calling, nodelay)
    while time.time() < start_at:
        time.sleep(0.001)
    done, errors, responses, lat = 0, 0, 0, []
    i = wid  # workers start at different points of the mix
    while time.time() < deadline and done + errors < max_q:
        qname, ident = idents[i % len(idents)]
        i += 1
        t0 = time.perf_counter()
        try:
            n, _, _, _, err = run_one(ae, host, port, aet, ident, collect=False)
        except Exception as e:  # network errors count as errors, loop goes on
            n, err = 0, repr(e)
        lat.append((time.perf_counter() - t0) * 1000.0)
        if err:
            errors += 1
        else:
            done += 1
            responses += n
    return done, errors, responses, lat, time.time()


def cmd_throughput(args, queries):
    idents = [(q.name, q.identifier()) for q in queries]
    start_at = time.time() + 1.0
    deadline = start_at + args.duration
    ctx = mp.get_context("fork")
    jobs = [
        (args.host, args.port, args.aet, args.calling_aet, args.nodelay, idents, start_at, deadline, args.tp_max, w)
        for w in range(args.concurrency)
    ]
    ru0 = os.times()
    with ctx.Pool(args.concurrency) as pool:
        res = pool.map(_tp_worker, jobs)
    ru1 = os.times()
    end = max(r[4] for r in res)
    elapsed = end - start_at
    done = sum(r[0] for r in res)
    errors = sum(r[1] for r in res)
    responses = sum(r[2] for r in res)
    lat = [x for r in res for x in r[3]]
    client_cpu = (ru1.children_user - ru0.children_user) + (ru1.children_system - ru0.children_system)
    rec = {
        "kind": "throughput",
        "label": args.label,
        "n_items": args.n_items,
        "queries": ",".join(q.name for q in queries),
        "concurrency": args.concurrency,
        "elapsed_s": round(elapsed, 2),
        "completed": done,
        "errors": errors,
        "qps": round(done / elapsed, 1) if elapsed > 0 else None,
        "responses_per_s": round(responses / elapsed, 1) if elapsed > 0 else None,
        "median_ms_under_load": round(statistics.median(lat), 1) if lat else None,
        "p95_ms_under_load": round(pct(lat, 95), 1) if lat else None,
        "client_cpu_s": round(client_cpu, 2),
    }
    print(
        f"{args.label:>10} N={args.n_items:<6} throughput[{rec['queries']}] x{args.concurrency}: "
        f"{rec['qps']} q/s, {done} ok, {errors} errors in {rec['elapsed_s']}s "
        f"(client cpu {rec['client_cpu_s']}s)",
        file=sys.stderr,
        flush=True,
    )
    return [rec]


def cmd_probes(args, queries):
    ae = make_ae(args.calling_aet, args.nodelay)
    out = []
    for q in queries:
        t0 = time.perf_counter()
        try:
            n, accs, _, cs, err = run_one(ae, args.host, args.port, args.aet, q.identifier(), collect="names")
        except Exception as e:
            n, accs, cs, err = 0, [], {}, repr(e)
        ms = (time.perf_counter() - t0) * 1000
        exp = len(q.expected) if q.expected is not None else None
        if err:
            v = f"ERROR: {err}"
        elif n == exp:
            v = verdict(q, n, accs)
        elif n == q.expected_ci and q.expected_ci != exp:
            v = "case-insensitive"
        else:
            v = f"differs({n} vs std {exp})"
        # non-ASCII names: were they returned intact, and with which charset?
        intact, mangled = 0, []
        for acc, want in q.nonascii.items():
            if acc in cs:
                got, charset = cs[acc]
                if got == want:
                    intact += 1
                else:
                    mangled.append(f"{want} -> {got!r} (charset '{charset}')")
        charsets = sorted({c for acc, (_, c) in cs.items() if acc in q.nonascii})
        rec = {
            "kind": "probe",
            "label": args.label,
            "n_items": args.n_items,
            "query": q.name,
            "desc": q.desc,
            "matches": n,
            "expected_std": exp,
            "expected_case_insensitive": q.expected_ci,
            "verdict": v,
            "ms": round(ms, 1),
            "nonascii_intact": intact,
            "nonascii_mangled": len(mangled),
            "mangled_examples": mangled[:2],
            "nonascii_charsets": charsets,
        }
        out.append(rec)
        extra = ""
        if q.nonascii and cs:
            extra = f" non-ASCII names intact={intact} mangled={len(mangled)} charsets={charsets}"
            if mangled:
                extra += " e.g. " + mangled[0]
        print(
            f"{args.label:>10} N={args.n_items:<6} {q.name:<16} {n:>6} (std {exp}, ci {q.expected_ci}) {v}{extra}",
            file=sys.stderr,
            flush=True,
        )
    return out


def cmd_findscu(args, queries):
    for q in queries:
        parts = ["findscu", "-W", "-aet", args.calling_aet, "-aec", args.aet, args.host, str(args.port)]
        for k in q.findscu_keys():
            parts += ["-k", k]
        exp = len(q.expected) if q.expected is not None else ""
        print(f"{q.name}\t{exp}\t{shlex.join(parts)}")
    return []


def cmd_findscu_run(args, queries):
    """Same queries through DCMTK's findscu (a C++ client): one verbose run to
    count the responses, then --reps quiet runs timed as whole processes."""
    import subprocess

    env = dict(os.environ)
    if args.nodelay:
        env["TCP_NODELAY"] = "1"  # DCMTK's runtime switch for the Nagle algorithm
    out = []
    for q in queries:
        base = ["findscu", "-W", "-aet", args.calling_aet, "-aec", args.aet, args.host, str(args.port)]
        for k in q.findscu_keys():
            base += ["-k", k]
        t0 = time.perf_counter()
        r = subprocess.run(base + ["-v"], env=env, capture_output=True, text=True, errors="replace")
        first_s = time.perf_counter() - t0
        n = len(re.findall(r"Find Response: \d+ \(Pending\)", r.stdout + r.stderr))
        lat = []
        budget_end = time.perf_counter() + args.max_seconds
        for _ in range(args.reps):
            t0 = time.perf_counter()
            subprocess.run(base + ["-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lat.append((time.perf_counter() - t0) * 1000.0)
            if time.perf_counter() > budget_end:
                break
        exp = len(q.expected) if q.expected is not None else None
        rec = {
            "kind": "findscu",
            "label": args.label,
            "n_items": args.n_items,
            "query": q.name,
            "reps": len(lat),
            "rc": r.returncode,
            "median_ms": round(statistics.median(lat), 1) if lat else round(first_s * 1000, 1),
            "p95_ms": round(pct(lat, 95), 1) if lat else None,
            "matches": n,
            "expected": exp,
            "check": "ok" if n == exp else f"WRONG({n} vs {exp})",
        }
        out.append(rec)
        print(
            f"{args.label:>10} N={args.n_items:<6} {q.name} findscu reps={rec['reps']:>3} "
            f"median={rec['median_ms']}ms matches={n} expected={exp} {rec['check']}",
            file=sys.stderr,
            flush=True,
        )
    return out


def cmd_report(path):
    rows = {}
    tp, probes, startup = [], [], []
    order = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["kind"] in ("latency", "findscu"):
                key = (r["label"], r["n_items"], r["query"])
                if key not in rows:
                    rows[key] = {}
                    order.append(key)
                rows[key][r["kind"]] = r
            elif r["kind"] == "throughput":
                tp.append(r)
            elif r["kind"] == "probe":
                probes.append(r)
            elif r["kind"] == "startup":
                startup.append(r)
    print(
        "| peer | N | query | pynetdicom median ms | p95 ms | reps | findscu median ms | "
        "reps | matches | expected | check |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for key in order:
        lat, fs = rows[key].get("latency"), rows[key].get("findscu")
        cells = [key[0], str(key[1]), key[2]]
        if lat:
            cells += [
                str(lat["median_ms"]),
                str(lat["p95_ms"]),
                f"{lat['reps']}{'*' if lat.get('truncated_by_budget') else ''}",
            ]
        else:
            cells += ["", "", ""]
        if fs:
            cells += [str(fs["median_ms"]), str(fs["reps"])]
        else:
            cells += ["", ""]
        src = lat or fs
        checks = []
        if lat:
            checks.append(
                lat["check"]
                + ("" if lat["counts_stable"] else " unstable")
                + (f" errors={lat['errors']}" if lat["errors"] else "")
            )
        if fs and fs["check"] != "ok":
            checks.append("findscu " + fs["check"])
        elif fs and not lat:
            checks.append("findscu ok")
        cells += [str(src["matches"]), str(src["expected"]), "; ".join(checks)]
        print("| " + " | ".join(cells) + " |")
    print("\n`*` = repetitions cut short by the per-cell time budget.")
    if tp:
        print()
        print(
            "| peer | N | queries | clients | q/s | completed | errors | median ms (load) | "
            "p95 ms (load) | responses/s | client CPU s |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in tp:
            print(
                f"| {r['label']} | {r['n_items']} | {r['queries']} | {r['concurrency']} | "
                f"{r['qps']} | {r['completed']} | {r['errors']} | {r['median_ms_under_load']} | "
                f"{r['p95_ms_under_load']} | {r['responses_per_s']} | {r['client_cpu_s']} |"
            )
    if startup:
        print()
        print("| peer | N | ready after s |")
        print("|---|---:|---:|")
        for r in startup:
            print(f"| {r['label']} | {r['n_items']} | {r['seconds']} |")
    if probes:
        print()
        print("| peer | N | probe | returned | std expects | case-insens. expects | verdict |")
        print("|---|---:|---|---:|---:|---:|---|")
        for r in probes:
            extra = ""
            if r.get("nonascii_intact") or r.get("nonascii_mangled"):
                extra = (
                    f"; non-ASCII names intact {r['nonascii_intact']}, mangled "
                    f"{r['nonascii_mangled']}, charset {r['nonascii_charsets']}"
                )
                if r["mangled_examples"]:
                    extra += f", e.g. {r['mangled_examples'][0]}"
            print(
                f"| {r['label']} | {r['n_items']} | {r['query']}: {r['desc']} | {r['matches']} | "
                f"{r['expected_std']} | {r['expected_case_insensitive']} | {r['verdict']}{extra} |"
            )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["latency", "throughput", "probes", "findscu", "findscu-run", "report"])
    ap.add_argument("path", nargs="?", help="results file (report mode)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11112)
    ap.add_argument("--aet", default="WLM", help="called AE title of the SCP")
    ap.add_argument("--calling-aet", default="BENCHSCU")
    ap.add_argument("--data", help="folder from gen_worklist.py (meta.json, items.ndjson)")
    ap.add_argument("--label", default="scp", help="peer name written into the results")
    ap.add_argument("--queries", default="Q1,Q2,Q3,Q4,Q5")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument(
        "--max-seconds", type=float, default=30.0, help="latency: stop repeating a query after this long (reported)"
    )
    ap.add_argument(
        "--check-every", action="store_true", help="latency: decode AccessionNumber of every response in timed reps"
    )
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--tp-queries", default="Q1")
    ap.add_argument("--tp-max", type=int, default=100000, help="max queries per worker")
    ap.add_argument("--probes", help="probes mode: only these probe names (comma list)")
    ap.add_argument(
        "--nodelay", action="store_true", help="set TCP_NODELAY on client sockets (findscu-run: TCP_NODELAY=1 env)"
    )
    ap.add_argument(
        "--log-identifiers",
        action="store_true",
        help="keep pynetdicom's default per-response identifier logging "
        "(formats every response dataset even when nothing is logged; "
        "costs ~0.7 ms CPU per response)",
    )
    ap.add_argument("--json-out", help="append JSON lines here")
    args = ap.parse_args(argv)

    if args.mode == "report":
        cmd_report(args.path)
        return 0
    if not args.log_identifiers:
        from pynetdicom import _config

        _config.LOG_REQUEST_IDENTIFIERS = False
        _config.LOG_RESPONSE_IDENTIFIERS = False
    if not args.data:
        ap.error("--data is required for this mode")
    meta, items = load_data(args.data)
    args.n_items = len(items)
    p = pick_params(meta, items)
    if args.mode == "probes":
        queries = probe_queries(p)
        if args.probes:
            want = {x.strip() for x in args.probes.split(",")}
            queries = [q for q in queries if q.name in want]
    else:
        names = args.tp_queries if args.mode == "throughput" else args.queries
        queries = main_queries(p, [s.strip() for s in names.split(",")])
    attach_expected(queries, items)
    del items
    fn = {
        "latency": cmd_latency,
        "throughput": cmd_throughput,
        "probes": cmd_probes,
        "findscu": cmd_findscu,
        "findscu-run": cmd_findscu_run,
    }[args.mode]
    recs = fn(args, queries)
    if args.json_out and recs:
        with open(args.json_out, "a") as f:
            for r in recs:
                r["params"] = p
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
