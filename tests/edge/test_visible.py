"""What the centre shows of its edge nodes (the stations page, web /metrics,
ris_check), from the status each edge reported; and the forwarder's rules
for the centre's answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from edge.forwarder import _settled
from edge.models import EdgeStatus, OutboxMessage
from facility.models import Site
from facility.services import site_save
from operations.checks import Options, run_checks
from scheduling.stations import station_create


@pytest.fixture
def reported(db: None) -> EdgeStatus:
    site = site_save(code="KIB", name="Kibaha Imaging Centre", edge_ae_title="EDGE_KIB")
    station_create(name="CT Kibaha", modality="CT", ae_title="CT_KIB", site=site)
    now = timezone.now()
    return EdgeStatus.objects.create(
        site_code="KIB",
        worklist_as_of=now - dt.timedelta(minutes=40),
        replication_connected=False,
        outbox_depth=3,
        oldest_unforwarded_at=now - dt.timedelta(minutes=35),
        refused=1,
        reported_at=now - dt.timedelta(minutes=30),
    )


def test_the_stations_page_shows_each_edge_and_what_is_wrong(
    reported: EdgeStatus, client: Client, scheduler: Any
) -> None:
    client.force_login(scheduler)
    page = client.get("/stations/").content.decode()
    assert "Sites and their edge nodes" in page
    assert "Kibaha Imaging Centre (KIB)" in page
    assert "EDGE_KIB" in page
    assert "not connected" in page
    assert "No replication slot" in page  # this test database has never been published
    assert "3 MPPS not yet forwarded, the oldest from 01/12/2026 06:25" in page
    assert "1 MPPS refused by the centre" in page
    assert "Last contact from the edge: 01/12/2026 06:30" in page


def test_the_centres_metrics_and_check_show_the_edge(reported: EdgeStatus, client: Client) -> None:
    metrics = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'ris_edge_outbox_depth{site="KIB"} 3.0' in metrics
    assert 'ris_edge_outbox_refused{site="KIB"} 1.0' in metrics
    assert 'ris_edge_connected{site="KIB"} 0.0' in metrics
    assert 'ris_edge_last_contact_age_seconds{site="KIB"} 1800.0' in metrics
    assert 'ris_edge_oldest_unforwarded_age_seconds{site="KIB"} 2100.0' in metrics
    [edge] = [r for r in run_checks(Options(skip={"celery worker"})) if r.name == "edge"]
    assert edge.status == "fail"
    assert "KIB: not connected" in edge.detail
    assert "outbox 3" in edge.detail


def test_a_site_without_an_edge_node_is_not_checked(db: None) -> None:
    site_save(code="MNH", name="Main hospital")
    [edge] = [r for r in run_checks(Options(skip={"celery worker"})) if r.name == "edge"]
    assert (edge.status, edge.detail) == ("ok", "No site has an edge node.")


@pytest.mark.parametrize(
    ("operation", "status", "code", "in_doubt", "outcome"),
    [
        ("N-CREATE", "IN PROGRESS", 0x0000, False, "forwarded"),
        ("N-CREATE", "IN PROGRESS", 0x0111, False, "forwarded"),  # the centre has it: an earlier copy arrived
        ("N-SET", "COMPLETED", 0x0110, True, "forwarded"),  # final there, and we sent it before
        ("N-SET", "COMPLETED", 0x0110, False, "retry"),  # never sent before: the centre's failure
        ("N-SET", "IN PROGRESS", 0x0110, True, "retry"),  # not a final N-SET: not a repeat's answer
        ("N-CREATE", "IN PROGRESS", 0xC000, False, "retry"),
        ("N-CREATE", "IN PROGRESS", 0x0106, False, "refused"),  # the message is wrong: kept for review
        ("N-SET", "COMPLETED", 0x0112, False, "refused"),
    ],
)
def test_the_forwarder_reads_the_centres_answer(
    operation: str, status: str, code: int, in_doubt: bool, outcome: str
) -> None:
    message = OutboxMessage(operation=operation, dataset={"00400252": {"vr": "CS", "Value": [status]}})
    assert _settled(message, code, in_doubt) == outcome


@pytest.mark.django_db
def test_publish_sql_for_a_superuser_to_run(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """How an installation publishes a site (docs/edge.md): the app's own database role may not
    create a REPLICATION user, so --sql prints what `sudo -u postgres psql` runs; the rest goes to stderr."""
    import io

    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("edge nodes need PostgreSQL")
    monkeypatch.setenv("EDGE_REPLICATION_PASSWORD", "it's-secret")
    out, err = io.StringIO(), io.StringIO()
    call_command("edge_setup", "publish", "--site", "kib", "--name", "Kibaha", "--central-host", "10.8.0.1", "--sql",
                 stdout=out, stderr=err)  # fmt: skip
    site = Site.objects.get(code="KIB")
    assert site.edge_ae_title == "EDGE_KIB"
    sql = out.getvalue()
    assert "CREATE ROLE ris_edge_kib WITH LOGIN REPLICATION PASSWORD 'it''s-secret';" in sql
    assert f"scheduling_station WHERE (site_id = {site.pk})" in sql
    assert "worklist_worklistitem WHERE (site_code = 'KIB')" in sql
    assert "EDGE_CENTRAL_DATABASE_URL=postgresql://ris_edge_kib:it%27s-secret@10.8.0.1:" in err.getvalue()
    assert "EDGE_CENTRAL" not in sql  # psql gets SQL only
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_publication WHERE pubname = 'ris_site_kib'")
        assert cursor.fetchone() == (0,)  # printed, not run


@pytest.mark.django_db
def test_the_forwarder_backs_off_while_the_centre_is_unreachable(settings: Any) -> None:
    """No association, again and again: 1 s, 2 s, 4 s … up to EDGE_RETRY_MAX_SECONDS; nothing is sent,
    so the message is never in doubt."""
    from edge.forwarder import Forwarder
    from tests.dicom_gateway.test_command import free_port

    settings.EDGE_AE_TITLE, settings.EDGE_CENTRAL_HOST, settings.EDGE_CENTRAL_PORT = (
        "EDGE_KIB",
        "127.0.0.1",
        free_port(),
    )
    settings.EDGE_RETRY_MAX_SECONDS = 4
    message = OutboxMessage.objects.create(
        operation="N-CREATE", sop_instance_uid="1.2.3", dataset={}, calling_ae_title="CT_KIB", created_at=timezone.now()
    )
    forwarder, delays = Forwarder(), []
    for _ in range(4):
        OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        assert not forwarder.forward_one()
        message.refresh_from_db()
        assert message.next_attempt_at is not None
        delays.append(round((message.next_attempt_at - timezone.now()).total_seconds()))
    assert delays == [1, 2, 4, 4]
    assert (message.attempts, message.in_doubt, message.state) == (0, False, "pending")
    assert "no association" in message.last_error


@pytest.mark.django_db
def test_edge_forward_lists_the_outbox_and_queues_a_refused_message_again(settings: Any) -> None:
    import io

    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="runs on an edge node"):
        call_command("edge_forward", "--list")
    settings.RIS_ROLE, settings.RIS_SITE = "edge", "KIB"
    out = io.StringIO()
    call_command("edge_forward", "--list", stdout=out)
    assert out.getvalue().strip() == "The outbox is empty: everything was forwarded."
    refused = OutboxMessage.objects.create(
        operation="N-SET", sop_instance_uid="1.2.3", dataset={}, calling_ae_title="CT_KIB", accession_number="A1",
        created_at=timezone.now(), state="refused", attempts=3, last_error="refused by the centre: 0x0106",
    )  # fmt: skip
    out = io.StringIO()
    call_command("edge_forward", "--list", stdout=out)
    assert f"#{refused.pk} 01/12/2026 07:00:00 N-SET 1.2.3 accession=A1 refused attempts=3" in out.getvalue()
    assert "0x0106" in out.getvalue()
    call_command("edge_forward", "--retry", str(refused.pk), stdout=io.StringIO())
    refused.refresh_from_db()
    assert (refused.state, refused.attempts, refused.last_error) == ("pending", 0, "")
    with pytest.raises(CommandError, match=f"No refused message #{refused.pk}"):
        call_command("edge_forward", "--retry", str(refused.pk))
