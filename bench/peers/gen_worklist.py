#!/usr/bin/env python3
"""Generate N realistic Modality Worklist items, identical for every peer.

Outputs, for each requested size N, a self-contained folder OUT/N<n>/:
  <AET>/item_000000.wl ...  DICOM Part-10 worklist files (DCMTK wlmscpfs layout:
                            one folder per called AE title, plus an empty `lockfile`;
                            Orthanc's ModalityWorklists plugin reads the same folder)
  items.ndjson              the same items, one JSON object per line, keyed by DICOM
                            keyword (sequences are lists of objects) - for loading
                            into the naive SCP, a Django RIS, or anything else
  meta.json                 base date, stations, seed, N

Items are "prefix stable": item i is the same whatever N is (each item has its own
seeded RNG), so the N=100 set is the first 100 items of the N=10000 set, and the
.wl files of smaller sets are hard links to the ones of the largest set.

Usage:
  python gen_worklist.py --out DIR --sizes 100,10000,50000 [--base-date YYYYMMDD]
                         [--seed 42] [--aet WLM]
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import struct
import sys

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MWL_FIND_SOP_CLASS = "1.2.840.10008.5.1.4.31"

# 20 scanner stations: (AE title, modality, station name, site)
STATIONS = [
    ("CT_MNZ01", "CT", "BMC CT 1", "BUGANDO"),
    ("CT_MNZ02", "CT", "BMC CT 2", "BUGANDO"),
    ("CT_DOD01", "CT", "DOM CT", "DODOMA"),
    ("CT_ARU01", "CT", "MTM CT", "ARUSHA"),
    ("MR_MNZ01", "MR", "BMC MRI", "BUGANDO"),
    ("MR_DAR01", "MR", "MNH MRI 1", "MUHIMBILI"),
    ("MR_DAR02", "MR", "MNH MRI 2", "MUHIMBILI"),
    ("CR_MNZ01", "CR", "BMC XR 1", "BUGANDO"),
    ("CR_MNZ02", "CR", "BMC XR 2", "BUGANDO"),
    ("CR_DOD01", "CR", "DOM XR", "DODOMA"),
    ("CR_ARU01", "CR", "MTM XR", "ARUSHA"),
    ("CR_MBY01", "CR", "MZR XR", "MBEYA"),
    ("US_MNZ01", "US", "BMC US 1", "BUGANDO"),
    ("US_MNZ02", "US", "BMC US 2", "BUGANDO"),
    ("US_DAR01", "US", "MNH US", "MUHIMBILI"),
    ("US_MBY01", "US", "MZR US", "MBEYA"),
    ("DX_MNZ01", "DX", "BMC DR", "BUGANDO"),
    ("DX_DAR01", "DX", "MNH DR", "MUHIMBILI"),
    ("DX_ARU01", "DX", "MTM DR", "ARUSHA"),
    ("DX_MBY01", "DX", "MZR DR", "MBEYA"),
]
# relative daily volume per modality (plain X-ray and ultrasound dominate)
MODALITY_WEIGHT = {"CR": 30, "DX": 25, "US": 25, "CT": 14, "MR": 6}

PROCEDURES = {
    "CT": [
        "CT HEAD WITHOUT CONTRAST",
        "CT ABDOMEN PELVIS WITH CONTRAST",
        "CT CHEST HIGH RESOLUTION",
        "CT CERVICAL SPINE",
        "CT KUB",
    ],
    "MR": ["MRI BRAIN WITH CONTRAST", "MRI LUMBAR SPINE", "MRI KNEE LEFT", "MRI CERVICAL SPINE", "MRI PELVIS"],
    "CR": ["CHEST PA", "KNEE AP AND LATERAL", "PELVIS AP", "SKULL AP AND LATERAL", "FOOT AP AND OBLIQUE"],
    "US": [
        "OBSTETRIC ULTRASOUND",
        "ABDOMINAL ULTRASOUND",
        "PELVIC ULTRASOUND",
        "BREAST ULTRASOUND",
        "THYROID ULTRASOUND",
    ],
    "DX": ["CHEST PA AND LATERAL", "HAND 2 VIEWS", "LUMBAR SPINE AP AND LATERAL", "SHOULDER AP", "ANKLE 3 VIEWS"],
}

SURNAMES = [
    # several MWA* names on purpose (query Q3 "MWA*")
    "MWAKYUSA",
    "MWAMBA",
    "MWAKALINGA",
    "MWANGA",
    "MWAIPOPO",
    "MWAKASEGE",
    "MWAKIBINGA",
    "KIMARO",
    "MASSAWE",
    "MUSHI",
    "SHIRIMA",
    "LYIMO",
    "MREMA",
    "MOSHI",
    "URASSA",
    "SWAI",
    "TEMU",
    "NJAU",
    "MCHOME",
    "KAPINGA",
    "NGOWI",
    "MAKAME",
    "JUMA",
    "HAMISI",
    "MBWAMBO",
    "MOLLEL",
    "LAIZER",
    "SANGA",
    "CHANDE",
    "MAPUNDA",
    "MSUYA",
    "KOMBA",
    "LUKUMAY",
    "NDOSI",
    "SHAYO",
    "MALLYA",
    "KESSY",
    "MINJA",
    "KWEKA",
    "MTUI",
    "MFINANGA",
    "KIWELU",
    "TARIMO",
    "MBUYA",
    "MMARI",
    "MTENGA",
    "OLOMI",
    "RINGO",
    "MUNISI",
    "NKYA",
    "SEMBOJA",
    "NG'WANDU",
    "MAGESA",
    "MASANJA",
    "MAPUNDA",
    "KAHAMA",
    "MALISA",
]
GIVEN_F = [
    "Neema",
    "Rehema",
    "Imani",
    "Faraja",
    "Zawadi",
    "Upendo",
    "Tumaini",
    "Furaha",
    "Mwajuma",
    "Zuhura",
    "Saida",
    "Anna",
    "Grace",
    "Esther",
    "Halima",
    "Mwanaisha",
    "Subira",
    "Pendo",
    "Ashura",
    "Asha",
    "Salma",
    "Nuru",
    "Happiness",
    "Glory",
    "Witness",
]
GIVEN_M = [
    "Baraka",
    "Amani",
    "Juma",
    "Hamisi",
    "Ali",
    "Rashidi",
    "Athumani",
    "Emmanuel",
    "Joseph",
    "Elia",
    "Daudi",
    "Petro",
    "Yohana",
    "Hussein",
    "Bakari",
    "Omari",
    "Shabani",
    "Ramadhani",
    "Idd",
    "Jabiri",
    "Godlisten",
    "Erasto",
    "Elibariki",
    "Frank",
    "Msafiri",
]
# non-ASCII given names (francophone Great Lakes patients) -> need ISO_IR 192
GIVEN_UTF8_F = ["Hélène", "Josée", "Clémentine", "Bénédicte", "Zoë", "Aimée"]
GIVEN_UTF8_M = ["Aimé", "Désiré", "Noël", "Jérôme", "Clément", "Frédéric"]
UTF8_SURNAMES = ["NDAYISHIMIYE", "MUKENDI", "NIYONZIMA", "HAKIZIMANA", "KABONGO"]
# Chinese expatriate patients: alphabetic=ideographic PN groups (ISO_IR 192)
CJK_NAMES = [
    ("ZHANG", "Wei", "张", "伟"),
    ("WANG", "Fang", "王", "芳"),
    ("LI", "Lei", "李", "磊"),
    ("LIU", "Jing", "刘", "静"),
    ("CHEN", "Min", "陈", "敏"),
]

REFERRERS = [
    "MTEI^Joseph^^Dr",
    "KIBONA^Agnes^^Dr",
    "MOSHA^Peter^^Dr",
    "SULEIMAN^Fatma^^Dr",
    "LEMA^Godfrey^^Dr",
    "NYONI^Sarah^^Dr",
]
PRIORITIES = ["ROUTINE"] * 8 + ["HIGH", "STAT"]


def _weighted_station(rng):
    weights = [MODALITY_WEIGHT[m] / sum(1 for s in STATIONS if s[1] == m) for (_, m, _, _) in STATIONS]
    return rng.choices(STATIONS, weights=weights, k=1)[0]


def patient_for(index, seed):
    """Deterministic patient record for patient number `index`."""
    rng = random.Random(f"patient:{seed}:{index}")
    sex = rng.choice("FM")
    r = rng.random()
    cjk = index % 200 == 5  # 0.5% of patients, one of them among the first 100
    utf8 = r < 0.06 or cjk
    if cjk:
        fam, giv, ifam, igiv = rng.choice(CJK_NAMES)
        name = f"{fam}^{giv}={ifam}^{igiv}"
    elif utf8:
        family = rng.choice(UTF8_SURNAMES + SURNAMES)
        given = rng.choice(GIVEN_UTF8_F if sex == "F" else GIVEN_UTF8_M)
    else:
        family = rng.choice(SURNAMES)
        given = rng.choice(GIVEN_F if sex == "F" else GIVEN_M)
    # about 1 in 8 patients has a middle name
    if cjk:
        pass
    elif rng.random() < 0.12:
        middle = rng.choice(GIVEN_F if sex == "F" else GIVEN_M)
        name = f"{family}^{given}^{middle}"
    else:
        name = f"{family}^{given}"
    birth = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(0, 32000))
    return {
        "PatientName": name,
        "PatientID": f"TZ{index + 1:08d}",
        "IssuerOfPatientID": "BMC-MRN",
        "PatientBirthDate": birth.strftime("%Y%m%d"),
        "PatientSex": sex,
        # ~5% of ASCII patients are also tagged ISO_IR 192 (UTF-8 RIS export)
        "_utf8": utf8 or rng.random() < 0.05,
    }


def make_item(i, seed, base_date):
    """Build item i as a keyword-keyed dict (deterministic, independent of N)."""
    rng = random.Random(f"item:{seed}:{i}")
    # 30% of requests are for a patient that already had an earlier request
    if i > 0 and rng.random() < 0.30:
        pidx = rng.randrange(0, i)
        # follow the chain so that pidx is a "patient number"
        pidx = _patient_index(pidx, seed)
    else:
        pidx = i
    pat = patient_for(pidx, seed)
    aet, modality, station_name, site = _weighted_station(rng)
    day = base_date + dt.timedelta(days=rng.randrange(-20, 40))  # 60 days
    minutes = 7 * 60 + 15 * rng.randrange(0, 44)  # 07:00 .. 17:45, 15-min slots
    proc = rng.choice(PROCEDURES[modality])
    referrer = rng.choice(REFERRERS)
    item = {}
    if pat["_utf8"]:
        item["SpecificCharacterSet"] = "ISO_IR 192"
    item.update(
        {
            "AccessionNumber": f"ACC{i + 1:09d}",
            "ReferringPhysicianName": referrer,
            "PatientName": pat["PatientName"],
            "PatientID": pat["PatientID"],
            "IssuerOfPatientID": pat["IssuerOfPatientID"],
            "PatientBirthDate": pat["PatientBirthDate"],
            "PatientSex": pat["PatientSex"],
            "StudyInstanceUID": generate_uid(prefix=None, entropy_srcs=[f"study:{seed}:{i}"]),
            "RequestingPhysician": referrer,
            "RequestedProcedureDescription": proc,
            "RequestedProcedureID": f"RP{i + 1:09d}",
            "RequestedProcedurePriority": rng.choice(PRIORITIES),
            # type 2 sequences of the MWL IOD, present but empty (wlmscpfs warns
            # and patches every record without them)
            "ReferencedStudySequence": [],
            "ReferencedPatientSequence": [],
            "ScheduledProcedureStepSequence": [
                {
                    "Modality": modality,
                    "ScheduledStationAETitle": aet,
                    "ScheduledProcedureStepStartDate": day.strftime("%Y%m%d"),
                    "ScheduledProcedureStepStartTime": f"{minutes // 60:02d}{minutes % 60:02d}00",
                    "ScheduledPerformingPhysicianName": "",
                    "ScheduledProcedureStepDescription": proc,
                    "ScheduledStationName": station_name,
                    "ScheduledProcedureStepLocation": site,
                    "ScheduledProcedureStepID": f"SPS{i + 1:09d}",
                    "ScheduledProcedureStepStatus": "SCHEDULED",
                }
            ],
        }
    )
    return item


_PIDX_CACHE = {}


def _patient_index(i, seed):
    """Patient number used by item i (memoised, follows reuse chains)."""
    key = (seed, i)
    if key in _PIDX_CACHE:
        return _PIDX_CACHE[key]
    chain = []
    j = i
    while True:
        if (seed, j) in _PIDX_CACHE:
            p = _PIDX_CACHE[(seed, j)]
            break
        rng = random.Random(f"item:{seed}:{j}")
        if j > 0 and rng.random() < 0.30:
            chain.append(j)
            j = rng.randrange(0, j)
            continue
        p = j
        break
    for c in chain + [i]:
        _PIDX_CACHE[(seed, c)] = p
    return p


def item_to_dataset(item):
    """pydicom Dataset for one item (used for self-checks and by other tools)."""
    ds = Dataset()
    for kw, val in item.items():
        if kw.startswith("_"):
            continue
        if isinstance(val, list):
            seq = []
            for sub in val:
                sds = Dataset()
                for skw, sval in sub.items():
                    setattr(sds, skw, sval)
                seq.append(sds)
            setattr(ds, kw, seq)
        else:
            setattr(ds, kw, val)
    return ds


# --- small explicit-VR-little-endian encoder -------------------------------
# pydicom's writer costs ~2 ms per file, i.e. minutes for 50k items; these
# items only hold strings and one sequence, so we encode them directly and
# verify a sample with pydicom (see --check).
_TAGVR = {}
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_IMPL_UID = generate_uid(prefix=None, entropy_srcs=["mwl-bench gen_worklist"])


def _tag_vr(kw):
    tv = _TAGVR.get(kw)
    if tv is None:
        tag = tag_for_keyword(kw)
        if tag is None:
            raise KeyError(kw)
        tv = _TAGVR[kw] = (tag, dictionary_VR(tag))
    return tv


def _element(tag, vr, payload):
    if len(payload) % 2:
        payload += b"\0" if vr == "UI" else b" "
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode()
    if vr in _LONG_VRS:
        head += struct.pack("<HI", 0, len(payload))
    else:
        head += struct.pack("<H", len(payload))
    return head + payload


def _encode(obj, codec):
    parts = []
    for kw, val in obj.items():
        if kw.startswith("_"):
            continue
        tag, vr = _tag_vr(kw)
        if vr == "SQ":
            body = b""
            for sub in val:
                enc = _encode(sub, codec)
                body += struct.pack("<HHI", 0xFFFE, 0xE000, len(enc)) + enc
            parts.append((tag, _element(tag, vr, body)))
        else:
            parts.append((tag, _element(tag, vr, str(val).encode(codec))))
    parts.sort(key=lambda p: p[0])
    return b"".join(p[1] for p in parts)


def encode_part10(item):
    codec = "utf-8" if item.get("SpecificCharacterSet") == "ISO_IR 192" else "ascii"
    body = _encode(item, codec)
    sop_uid = generate_uid(prefix=None, entropy_srcs=["wl", item["AccessionNumber"]])
    meta = b"".join(
        [
            _element(0x00020001, "OB", b"\x00\x01"),
            _element(0x00020002, "UI", MWL_FIND_SOP_CLASS.encode()),
            _element(0x00020003, "UI", sop_uid.encode()),
            _element(0x00020010, "UI", ExplicitVRLittleEndian.encode()),
            _element(0x00020012, "UI", _IMPL_UID.encode()),
            _element(0x00020013, "SH", b"MWLBENCH_GEN"),
        ]
    )
    group_len = struct.pack("<HH", 2, 0) + b"UL" + struct.pack("<HI", 4, len(meta))
    return b"\0" * 128 + b"DICM" + group_len + meta + body


def write_wl(path, item):
    with open(path, "wb") as f:
        f.write(encode_part10(item))


def check_sample(items, folder, k=50):
    """Re-read some written files with pydicom and compare with the items."""
    from pydicom import dcmread

    step = max(1, len(items) // k)
    for i in range(0, len(items), step):
        ds = dcmread(os.path.join(folder, f"item_{i:06d}.wl"))
        for kw, val in items[i].items():
            if kw.startswith("_"):
                continue
            if isinstance(val, list):
                for sub, sds in zip(val, ds[kw].value):
                    for skw, sval in sub.items():
                        assert str(sds[skw].value) == sval, (i, skw, sds[skw].value, sval)
            else:
                assert str(ds[kw].value) == str(val), (i, kw, ds[kw].value, val)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--sizes", default="100,10000,50000")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--aet", default="WLM", help="called AE title folder name")
    ap.add_argument("--base-date", default=None, help="'today' of the data set, YYYYMMDD (default: today)")
    ap.add_argument("--no-check", action="store_true", help="skip re-reading a sample of the files with pydicom")
    args = ap.parse_args(argv)

    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    base = dt.datetime.strptime(args.base_date, "%Y%m%d").date() if args.base_date else dt.date.today()
    nmax = sizes[-1]
    os.makedirs(args.out, exist_ok=True)
    pool = os.path.join(args.out, f"N{nmax}", args.aet)
    os.makedirs(pool, exist_ok=True)

    items = [make_item(i, args.seed, base) for i in range(nmax)]
    with open(os.path.abspath(__file__), "rb") as f:
        gen_sha = hashlib.sha256(f.read()).hexdigest()
    stamp = {"seed": args.seed, "base_date": base.strftime("%Y%m%d"), "aet": args.aet, "generator_sha256": gen_sha}

    # write the .wl files of the largest set; smaller sets get hard links
    for name in os.listdir(pool):
        if name.endswith(".wl"):
            os.unlink(os.path.join(pool, name))
    for i, item in enumerate(items):
        write_wl(os.path.join(pool, f"item_{i:06d}.wl"), item)
    open(os.path.join(pool, "lockfile"), "a").close()
    if not args.no_check:
        check_sample(items, pool)

    for n in sizes:
        d = os.path.join(args.out, f"N{n}")
        wl = os.path.join(d, args.aet)
        os.makedirs(wl, exist_ok=True)
        if n != nmax:
            wanted = {f"item_{i:06d}.wl" for i in range(n)}
            for name in os.listdir(wl):
                if name.endswith(".wl") and name not in wanted:
                    os.unlink(os.path.join(wl, name))
            for name in sorted(wanted):
                dst = os.path.join(wl, name)
                if os.path.exists(dst):
                    os.unlink(dst)
                os.link(os.path.join(pool, name), dst)
            open(os.path.join(wl, "lockfile"), "a").close()
        with open(os.path.join(d, "items.ndjson"), "w", encoding="utf-8") as f:
            for item in items[:n]:
                f.write(json.dumps({k: v for k, v in item.items() if not k.startswith("_")}, ensure_ascii=False) + "\n")
        meta = dict(stamp, n=n, stations=[list(s) for s in STATIONS], wl_folder=args.aet, ndjson="items.ndjson")
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"N={n}: {d}", file=sys.stderr)


if __name__ == "__main__":
    main()
