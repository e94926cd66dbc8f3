"""An edge node on PostgreSQL logical replication, end to end on this
machine: two throwaway clusters, a gateway at the centre and at the edge, the
edge's forwarder, and the link between them through proxies the test cuts.
Modalities are DCMTK findscu (C-FIND) and pynetdicom (MPPS)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydicom.uid import generate_uid

from tests.edge.world import SITE, Modality, World, world
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(
    not __import__("pathlib").Path("/usr/lib/postgresql/15/bin/initdb").exists(), reason="needs PostgreSQL 15's initdb"
)


@pytest.fixture(scope="module")
def edge() -> Iterator[World]:
    with world() as w:
        yield w


def outbox(edge: World) -> dict[str, int]:
    return dict(edge.edge_sql("SELECT state, count(*) FROM edge_outboxmessage GROUP BY state"))


def test_a_booking_at_the_centre_is_on_the_edge_gateway_within_seconds(edge: World) -> None:
    [booked] = edge.central("book", station="CT_KIB")
    wait_until(lambda: booked["accession"] in edge.day_list(), timeout=10, what="the booking on the edge")
    # the edge replicates only its own site: the centre's other tables are not there
    assert edge.edge_sql("SELECT count(*) FROM orders_order") == [(0,)]


def test_through_an_outage_the_edge_serves_and_queues_and_everything_arrives_after(edge: World) -> None:
    performed, cancelled, conflict = edge.central("book", station="CT_KIB", count=3)
    wanted = {performed["accession"], cancelled["accession"], conflict["accession"]}
    wait_until(lambda: wanted <= set(edge.day_list()), timeout=10, what="the three bookings on the edge")

    edge.cut()
    # the edge still answers its day list from its own copy
    assert wanted <= set(edge.day_list())
    scanner = Modality(edge.edge_gateway_port)
    uid, uid_conflict, uid_unknown = generate_uid(), generate_uid(), generate_uid()
    assert scanner.start(uid, study=performed["study"], accession=performed["accession"]) == 0x0000
    assert performed["accession"] not in edge.day_list()  # off the list as soon as it started
    assert scanner.complete(uid) == 0x0000
    # the centre cancels two exams meanwhile; the edge performs one of them anyway
    edge.central("cancel", accession=cancelled["accession"])
    edge.central("cancel", accession=conflict["accession"])
    assert scanner.start(uid_conflict, study=conflict["study"], accession=conflict["accession"]) == 0x0000
    assert scanner.complete(uid_conflict) == 0x0000
    # an exam the centre never had
    assert scanner.start(uid_unknown, study=generate_uid(), accession="WALKIN1") == 0x0000
    assert outbox(edge) == {"pending": 5}
    assert set(edge.day_list()) & wanted == {cancelled["accession"]}  # the edge has not heard of the cancellation
    assert edge.central("order", accession=performed["accession"])["status"] == "scheduled"
    status = wait_until(
        lambda: edge.edge_sql(
            "SELECT replication_connected, outbox_depth, worklist_as_of FROM edge_edgestatus WHERE site_code = %s",
            (SITE,),
        ),
        timeout=10,
        what="the edge's status",
    )
    wait_until(
        lambda: edge.edge_sql("SELECT NOT replication_connected AND outbox_depth = 5 FROM edge_edgestatus")[0][0],
        timeout=15,
        what="the edge to see the link down and 5 messages waiting",
    )
    assert status[0][2] is not None  # "worklist as of": the last time it was current

    edge.restore()
    wait_until(
        lambda: edge.central("order", accession=performed["accession"])["status"] == "completed",
        timeout=30,
        what="the exam performed at the edge completed at the centre",
    )
    wait_until(lambda: outbox(edge) == {"forwarded": 5}, timeout=15, what="the outbox forwarded")
    kept = edge.central("order", accession=conflict["accession"])
    assert kept["status"] == "cancelled"
    assert [s["status"] for s in kept["steps"]] == ["COMPLETED"]
    assert kept["steps"][0]["review_reason"]  # kept and flagged for review
    assert kept["steps"][0]["from"] == "EDGE_KIB"
    assert uid_unknown in {s["uid"] for s in edge.central("unmatched")}
    wait_until(lambda: not set(edge.day_list()) & wanted, timeout=15, what="the cancellation at the edge")
    wait_until(lambda: edge.edge_sql("SELECT count(*) FROM edge_hold") == [(0,)], timeout=15, what="holds let go")
    # the centre sees the edge's report
    wait_until(
        lambda: (
            edge.central_sql(
                "SELECT replication_connected AND outbox_depth = 0 FROM edge_edgestatus WHERE site_code = %s", (SITE,)
            )
            == [(True,)]
        ),
        timeout=15,
        what="the edge's report at the centre",
    )


def test_kill_9_of_the_forwarder_with_messages_queued_loses_nothing(edge: World) -> None:
    first, second = edge.central("book", station="CT_KIB", count=2)
    wait_until(
        lambda: {first["accession"], second["accession"]} <= set(edge.day_list()),
        timeout=10,
        what="the bookings on the edge",
    )
    edge.cut()
    scanner = Modality(edge.edge_gateway_port)
    uids = {first["accession"]: generate_uid(), second["accession"]: generate_uid()}
    for booked in (first, second):
        assert scanner.start(uids[booked["accession"]], study=booked["study"], accession=booked["accession"]) == 0
        assert scanner.complete(uids[booked["accession"]]) == 0
    before = outbox(edge)
    assert before.get("pending") == 4
    edge.kill_forwarder()

    # The worst case for a repeat: the first step's messages reached the centre, and the forwarder died
    # before it wrote that down (in doubt). Delivered here by hand, through the centre's gateway.
    edge.restore()
    central = Modality(edge.central_gateway_port, calling="EDGE_KIB")
    rows = edge.edge_sql(
        "SELECT id, operation, dataset FROM edge_outboxmessage WHERE sop_instance_uid = %s ORDER BY id",
        (uids[first["accession"]],),
    )
    assert central.start(uids[first["accession"]], study=first["study"], accession=first["accession"]) == 0
    assert central.complete(uids[first["accession"]]) == 0
    edge.edge_sql("UPDATE edge_outboxmessage SET in_doubt = true WHERE id = ANY(%s)", ([r[0] for r in rows],))

    edge.start_forwarder()
    wait_until(lambda: outbox(edge).get("pending", 0) == 0, timeout=30, what="the outbox forwarded after the restart")
    for booked in (first, second):
        state = edge.central("order", accession=booked["accession"])
        assert state["status"] == "completed"
        assert [s["status"] for s in state["steps"]] == ["COMPLETED"]  # one step each: no duplicate
    assert outbox(edge).get("refused", 0) == 0
    log = edge.log("edge-forward")
    assert "forwarded (0x0111" in log
    assert "forwarded (0x0110" in log
    assert json.dumps(outbox(edge))  # still readable


def test_the_edges_state_is_visible_at_the_edge_and_at_the_centre(edge: World) -> None:
    [booked] = edge.central("book", station="CT_KIB")
    wait_until(lambda: booked["accession"] in edge.day_list(), timeout=10, what="the booking on the edge")
    edge.cut()
    assert (
        Modality(edge.edge_gateway_port).start(generate_uid(), study=booked["study"], accession=booked["accession"])
        == 0
    )
    wait_until(
        lambda: (
            'ris_edge_outbox_depth{site="KIB"} 1.0' in edge.edge_metrics()
            and 'ris_edge_connected{site="KIB"} 0.0' in edge.edge_metrics()
        ),
        timeout=15,
        what="the edge's metrics to show the link down and one MPPS waiting",
    )
    at_the_edge = {r["name"]: r for r in edge.checks(edge.edge_env())}
    # an edge runs no broker, Celery or HL7 listener; its forwarder verifies its audit trail instead of beat
    assert not {"broker", "celery beat", "hl7 listener", "backup"} & set(at_the_edge)
    assert at_the_edge["audit"]["status"] == "ok"
    at_edge = at_the_edge["edge"]
    assert at_edge["status"] == "warn"
    assert "KIB: not connected; worklist as of" in at_edge["detail"]
    assert "outbox 1" in at_edge["detail"]
    assert "ris_edge_worklist_age_seconds" in edge.edge_metrics()
    # the centre: the slot is there, the edge is not connected
    [at_centre] = edge.edge_check(edge.central_env())
    assert at_centre["status"] == "warn"
    assert "The edge is not connected" in at_centre["detail"]
    edge.restore()
    wait_until(lambda: outbox(edge) == {"forwarded": outbox(edge).get("forwarded", 0)}, timeout=20, what="forwarded")
    wait_until(
        lambda: edge.edge_check(edge.central_env())[0]["status"] == "ok",
        timeout=20,
        what="the centre's ris_check to see the edge connected and its outbox empty",
    )
    [at_centre] = edge.edge_check(edge.central_env())
    assert "KIB: connected" in at_centre["detail"]
    assert "outbox 0" in at_centre["detail"]


def test_an_edge_is_removed_cleanly_even_with_the_link_down() -> None:
    """docs/edge.md §7 on its own centre and edge (the others share theirs): `edge_setup status` at both
    ends; `edge_setup unsubscribe` with the centre unreachable drops the subscription and says the slot
    is left; `edge_setup unpublish --sql`, run by psql, removes the publication, that slot and the user."""
    with world() as w:
        assert "connected=True" in w.manage(w.edge_env(), "edge_setup", "status")
        assert "slot exists=True active=True" in w.manage(w.central_env(), "edge_setup", "status", "--site", "KIB")
        w.cut()
        out = w.manage(w.edge_env(), "edge_setup", "unsubscribe")
        assert "DROP SUBSCRIPTION ris_site_kib" in out
        assert "the slot ris_site_kib at the centre is left" in out
        assert w.edge_sql("SELECT count(*) FROM pg_subscription") == [(0,)]
        assert "subscription exists=False" in w.manage(w.edge_env(), "edge_setup", "status")
        w.restore()
        wait_until(
            lambda: w.central_sql("SELECT active FROM pg_replication_slots") == [(False,)],
            timeout=30,
            what="the slot at the centre inactive",
        )
        sql = w.manage(w.central_env(), "edge_setup", "unpublish", "--site", "KIB", "--sql")
        w.central_db.psql("ris", sql)
        assert w.central_sql(
            "SELECT (SELECT count(*) FROM pg_publication), (SELECT count(*) FROM pg_replication_slots), "
            "(SELECT count(*) FROM pg_roles WHERE rolname = 'ris_edge_kib')"
        ) == [(0, 0, 0)]
