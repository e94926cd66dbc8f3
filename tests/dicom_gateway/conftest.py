"""Gateway fixtures: a small worklist written through the RIS services, an
in-process gateway on a free port, and real clients (pynetdicom, findscu)."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset
from pynetdicom import AE

from dicom_gateway.find import RESPONSE_CACHE
from dicom_gateway.keys import MWL_FIND_SOP_CLASS as ModalityWorklistInformationFind
from dicom_gateway.keys import VERIFICATION_SOP_CLASS as Verification
from dicom_gateway.server import Gateway
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order
from orders.services import order_create, procedure_create
from patients.services import patient_create
from scheduling.booking import appointment_book
from scheduling.models import Station
from scheduling.stations import station_create
from tests.conftest import at

SPS = "ScheduledProcedureStepSequence"


@dataclass
class Worklist:
    ct: Station
    us: Station
    orders: dict[str, Order]

    def accession(self, name: str) -> str:
        return self.orders[name].accession_number


def build_worklist() -> Worklist:
    ct = station_create(name="CT Scanner", room="Room 3", modality="CT", ae_title="CT_ROOM3")
    us = station_create(name="Ultrasound 1", room="Room 4", modality="US", ae_title="US_ROOM4")
    ct_head = procedure_create(
        code="CTHEAD", name="CT Head", modality="CT", default_duration_minutes=30, protocol_code="CT-HEAD-NC"
    )
    us_abd = procedure_create(code="USABD", name="US Abdomen", modality="US", default_duration_minutes=30)
    people: dict[str, dict[str, Any]] = {
        "neema": dict(
            patient_id="MNH0001",
            family_name="Mwakyusa",
            given_name="Neema",
            middle_name="Joseph",
            sex="F",
            birth_date=dt.date(1985, 3, 14),
        ),
        "baraka": dict(
            patient_id="MNH0002", family_name="MWAMBA", given_name="Baraka", sex="M", birth_date=dt.date(1990, 7, 1)
        ),
        "amelie": dict(patient_id="FR0003", family_name="Dubé", given_name="Amélie", sex="F"),
        "lei": dict(patient_id="CN0004", family_name="LI", given_name="Lei", ideographic_name="李^磊", sex="M"),
        "juma": dict(
            patient_id="MNH0005", family_name="Kimaro", given_name="Juma", sex="M", birth_date=dt.date(1950, 1, 1)
        ),
        "doto": dict(patient_id="MNH0006", family_name="Swai", given_name="Doto", sex="F"),
        "petro": dict(patient_id="MNH0007", family_name="Mushi", given_name="Petro", sex="M"),
    }
    patients = {key: patient_create(issuer="MNH", **value) for key, value in people.items()}
    plan = [  # name, procedure, station, start
        ("neema", ct_head, ct, at(9)),
        ("baraka", ct_head, ct, at(10)),
        ("amelie", ct_head, ct, at(9, 30, day=2)),
        ("lei", us_abd, us, at(11)),
        ("juma", us_abd, us, at(14, day=3)),
        ("doto", ct_head, ct, at(12)),
        ("petro", ct_head, ct, at(13)),
    ]
    orders = {}
    for name, procedure, station, start in plan:
        order = order_create(patient=patients[name], procedure=procedure, referring_physician="Kimaro^Neema^^Dr")
        appointment_book(order=order, station=station, starts_at=start)
        orders[name] = order
    exam_transition(order=orders["doto"], to=ExamStatus.CANCELLED, reason="patient travelled")
    exam_transition(order=orders["petro"], to=ExamStatus.IN_PROGRESS)  # started: no longer served
    exam_transition(order=orders["baraka"], to=ExamStatus.ARRIVED)  # arrived: still served
    return Worklist(ct=ct, us=us, orders=orders)


@pytest.fixture(autouse=True)
def empty_response_cache() -> Iterator[None]:
    """Rows of different tests may share a pk and (frozen clock) an updated_at."""
    RESPONSE_CACHE.clear()
    yield
    RESPONSE_CACHE.clear()


@pytest.fixture
def worklist(db: None) -> Worklist:
    return build_worklist()


@pytest.fixture
def live_worklist(transactional_db: None) -> Worklist:
    return build_worklist()


@pytest.fixture
def gateway(transactional_db: None) -> Iterator[Gateway]:
    gw = Gateway(ae_title="RIS_MWL")
    gw.start("127.0.0.1", 0)
    yield gw
    gw.stop()


def mwl_query(top: dict[str, Any] | None = None, sps: dict[str, Any] | None = None, **meta: Any) -> Dataset:
    """A modality's query: the usual return keys, empty unless given."""
    ds = Dataset()
    for keyword, value in meta.items():
        setattr(ds, keyword, value)
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "AccessionNumber",
        "StudyInstanceUID",
        "RequestedProcedureID",
        "RequestedProcedureDescription",
    ):
        setattr(ds, keyword, "")
    for keyword, value in (top or {}).items():
        setattr(ds, keyword, value)
    if sps is not None:
        item = Dataset()
        for keyword in (
            "ScheduledStationAETitle",
            "ScheduledProcedureStepStartDate",
            "ScheduledProcedureStepStartTime",
            "Modality",
            "ScheduledProcedureStepID",
        ):
            setattr(item, keyword, "")
        for keyword, value in sps.items():
            setattr(item, keyword, value)
        setattr(ds, SPS, [item])
    return ds


@dataclass
class FindResult:
    statuses: list[int]
    identifiers: list[Dataset]
    comment: str = ""

    @property
    def accessions(self) -> list[str]:
        return sorted(str(ds.AccessionNumber).strip() for ds in self.identifiers)


def pynetdicom_find(port: int, query: Dataset, *, calling: str = "CT_ROOM3", called: str = "RIS_MWL") -> FindResult:
    ae = AE(ae_title=calling)
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, "association was not accepted"
    statuses, identifiers, comment = [], [], ""
    try:
        for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
            assert status is not None, "no response"
            statuses.append(int(status.Status))
            comment = str(status.get("ErrorComment", "")) or comment
            if identifier is not None and int(status.Status) in (0xFF00, 0xFF01):
                identifiers.append(identifier)
    finally:
        assoc.release()
    return FindResult(statuses, identifiers, comment)


def pynetdicom_associate(port: int, *, calling: str, called: str = "RIS_MWL") -> Any:
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    return ae.associate("127.0.0.1", port, ae_title=called)


CHARSETS = {"ISO_IR 192": "utf-8", "ISO_IR 100": "latin-1", "": "ascii"}
_LINE = re.compile(rb"^I:\s+\([0-9a-f]{4},[0-9a-f]{4}\) \w\w (\[(.*)\]|\(no value available\)).*#.*\s(\w+)$")


def parse_findscu_output(output: bytes) -> list[dict[str, str]]:
    """findscu -v output -> each pending response as {keyword: value}. findscu
    prints values as the bytes it received: each response is decoded by the
    Specific Character Set it declares, as a modality would."""
    raw_responses: list[dict[str, bytes]] = []
    current: dict[str, bytes] | None = None
    for line in output.splitlines():
        if b"Find Response:" in line and b"(Pending)" in line:
            current = {}
            raw_responses.append(current)
        elif current is not None:
            match = _LINE.match(line)
            if match:
                current[match[3].decode()] = (match[2] or b"").strip()
    responses = []
    for raw in raw_responses:
        encoding = CHARSETS.get(raw.get("SpecificCharacterSet", b"").decode(), "latin-1")
        responses.append({k: v.decode(encoding) for k, v in raw.items()})
    return responses


def findscu(
    port: int, keys: list[str], *, calling: str = "CT_ROOM3", called: str = "RIS_MWL", query_file: str | None = None
) -> tuple[int, list[dict[str, str]]]:
    """Run DCMTK findscu; returns its exit code and each response as {keyword: value}."""
    args = ["findscu", "-W", "-v", "-aet", calling, "-aec", called]
    for key in keys:
        args += ["-k", key]
    args += ["127.0.0.1", str(port)] + ([query_file] if query_file else [])
    run = subprocess.run(
        args, capture_output=True, timeout=60, env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"}, check=False
    )
    return run.returncode, parse_findscu_output(run.stdout + run.stderr)


def worklist_dataset(top: dict[str, Any], sps: dict[str, Any], **overrides: Any) -> Dataset:
    """A worklist item as a .wl file holds it: ``top`` and ``sps`` (its one
    step) are the defaults; overrides whose name starts SPS_ go in the step."""
    ds = Dataset()
    step = Dataset()
    for target, values in ((ds, top), (step, sps)):
        for keyword, value in values.items():
            setattr(target, keyword, value)
    ds.ScheduledProcedureStepSequence = [step]
    for keyword, value in overrides.items():
        target = step if keyword.startswith("SPS_") else ds
        setattr(target, keyword.removeprefix("SPS_"), value)
    return ds


def findscu_extract(
    port: int, query: Dataset, folder: Path, *, calling: str = "CT_ROOM3", called: str = "RIS_MWL"
) -> list[Dataset]:
    """Send ``query`` with DCMTK findscu and read back the responses it wrote
    to files (-X), whole, sequences included."""
    folder.mkdir(parents=True, exist_ok=True)
    query_file = folder / "query.dcm"
    dcmwrite(query_file, query, implicit_vr=False, little_endian=True)
    run = subprocess.run(
        ["findscu", "-W", "-X", "-aet", calling, "-aec", called, "127.0.0.1", str(port), str(query_file)],
        cwd=folder,
        capture_output=True,
        timeout=60,
        env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert run.returncode == 0, run.stderr[-500:]
    assert b"Pending Warning" not in run.stdout + run.stderr, "a response had status 0xFF01"
    return [dcmread(path) for path in sorted(folder.glob("rsp*.dcm"))]
