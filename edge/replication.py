"""The PostgreSQL logical replication behind an edge node (PostgreSQL 15:
row-filtered publications): the site's publication and replication user at
the centre, the subscription at the edge, and what both say about it.

One publication per site, ``ris_site_<code>``, holding what the gateway reads:
the site's worklist items (row filter on ``site_code``), its stations
(``site_id``), every modality profile, and the site's own row. Row filters on
UPDATE and DELETE may only use replica identity columns: the worklist's is
the unique (id, site_code) index, the station table's is FULL (a few rows).
PostgreSQL's apply worker runs as ``session_replication_role = replica``, so
the edge's copies of the worklist need none of the orders, patients and
appointments their foreign keys point at (those are not replicated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection

from facility.models import Site

# The edge's copies; everything else at the edge is its own.
REPLICATED_TABLES = ("worklist_worklistitem", "scheduling_station", "dicom_gateway_profile", "facility_site")
STATUS_TABLE = "edge_edgestatus"
CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")


def _code(site_code: str) -> str:
    code = site_code.strip().upper()
    if not CODE.match(code):
        raise ValueError(f"Not a site code: {site_code!r}")
    return code


def publication_name(site_code: str) -> str:
    return f"ris_site_{_code(site_code).lower()}"


def role_name(site_code: str) -> str:
    return f"ris_edge_{_code(site_code).lower()}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def masked(statements: list[str], secret: str) -> list[str]:
    """The statements as they may be shown: no password, no connection string."""
    hidden = [s.replace(_literal(secret), "'…'") for s in statements] if secret else list(statements)
    return [re.sub(r"CONNECTION '[^']*'", "CONNECTION '…'", s) for s in hidden]


def run_statements(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def publish_statements(site: Site, *, password: str) -> list[str]:
    """At the centre: the SQL that creates (or brings up to date) the site's
    replication user and publication. A superuser runs it (a REPLICATION role)."""
    code, publication, role = _code(site.code), publication_name(site.code), role_name(site.code)
    statements = [
        "ALTER TABLE worklist_worklistitem REPLICA IDENTITY USING INDEX wl_replica_identity",
        "ALTER TABLE scheduling_station REPLICA IDENTITY FULL",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        exists = cursor.fetchone() is not None
        verb = "ALTER" if exists else "CREATE"
        statements.append(f"{verb} ROLE {role} WITH LOGIN REPLICATION PASSWORD {_literal(password)}")
        statements.append(f"GRANT SELECT ON {', '.join(REPLICATED_TABLES)} TO {role}")
        statements.append(f"GRANT SELECT, INSERT, UPDATE ON {STATUS_TABLE} TO {role}")
        statements.append(f"GRANT USAGE ON SEQUENCE {STATUS_TABLE}_id_seq TO {role}")
        cursor.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", [publication])
        tables = (
            f"worklist_worklistitem WHERE (site_code = {_literal(code)}), "
            f"scheduling_station WHERE (site_id = {int(site.pk)}), "
            "dicom_gateway_profile, "
            f"facility_site WHERE (id = {int(site.pk)})"
        )
        if cursor.fetchone() is None:
            statements.append(f"CREATE PUBLICATION {publication} FOR TABLE {tables}")
        else:
            statements.append(f"ALTER PUBLICATION {publication} SET TABLE {tables}")
    return statements


def unpublish_statements(site_code: str) -> list[str]:
    """At the centre: the SQL that removes the site's publication, a slot its
    edge left behind (which would keep WAL for ever) and its user; a superuser runs it."""
    publication, role = publication_name(site_code), role_name(site_code)
    statements = [f"DROP PUBLICATION IF EXISTS {publication}"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", [publication])
        slot = cursor.fetchone()
        if slot is not None:
            if slot[0]:
                raise RuntimeError(f"The edge is still connected to {publication}: unsubscribe it first.")
            statements.append(f"SELECT pg_drop_replication_slot({_literal(publication)})")
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is not None:
            statements += [f"DROP OWNED BY {role}", f"DROP ROLE {role}"]
    return statements


def subscribe_statements(site_code: str, *, central_url: str, rebuild: bool = False) -> list[str]:
    """At the edge (after migrate): the SQL of the subscription to the site's
    publication, which a superuser runs. The edge's copies are emptied first
    (the initial copy fills them); with ``rebuild`` an existing subscription
    is dropped first (its slot at the centre too, the centre being reachable)."""
    name = publication_name(site_code)
    statements = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", [name])
        if cursor.fetchone() is not None:
            if not rebuild:
                raise RuntimeError(f"The subscription {name} exists already (use --rebuild to make it again).")
            statements.append(f"DROP SUBSCRIPTION {name}")
    return [
        *statements,
        f"TRUNCATE {', '.join(REPLICATED_TABLES)} CASCADE",
        f"CREATE SUBSCRIPTION {name} CONNECTION {_literal(central_url)} PUBLICATION {name} "
        "WITH (copy_data = true, disable_on_error = false)",
    ]


def unsubscribe_statements(site_code: str) -> list[str]:
    """At the edge: the SQL that removes the subscription whether or not the
    centre is reachable; its slot at the centre stays (edge_setup unpublish, or
    pg_drop_replication_slot there, removes it)."""
    name = publication_name(site_code)
    return [
        f"ALTER SUBSCRIPTION {name} DISABLE",
        f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)",
        f"DROP SUBSCRIPTION {name}",
    ]


def unsubscribe(site_code: str) -> list[str]:
    """At the edge: the subscription gone; its slot at the centre too when the centre is reachable."""
    name = publication_name(site_code)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", [name])
        if cursor.fetchone() is None:
            return []
        try:
            cursor.execute(f"DROP SUBSCRIPTION {name}")
            return [f"DROP SUBSCRIPTION {name}"]
        except DatabaseError:  # the centre is unreachable: drop it without its slot
            pass
    statements = unsubscribe_statements(site_code)
    run_statements(statements)
    return [*statements, f"(the slot {name} at the centre is left: edge_setup unpublish removes it)"]


@dataclass(frozen=True)
class Subscription:
    """The edge's subscription as PostgreSQL reports it (pg_subscription, pg_stat_subscription)."""

    exists: bool
    enabled: bool = False
    running: bool = False  # an apply worker is connected to the centre
    confirmed_at: Any = None  # latest_end_time: the last position the edge told the centre it had applied
    received_at: Any = None  # last_msg_receipt_time
    syncing: int = 0  # tables still in their initial copy


def subscription_state(site_code: str) -> Subscription:
    if connection.vendor != "postgresql":
        return Subscription(exists=False)
    name = publication_name(site_code)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.subenabled, st.pid, st.latest_end_time, st.last_msg_receipt_time, "
            "(SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid AND r.srsubstate <> 'r') "
            "FROM pg_subscription s LEFT JOIN pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL "
            "WHERE s.subname = %s",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return Subscription(exists=False)
    enabled, pid, confirmed, received, syncing = row
    return Subscription(True, bool(enabled), pid is not None, confirmed, received, int(syncing))


@dataclass(frozen=True)
class Slot:
    """A site's replication slot at the centre (pg_replication_slots, pg_stat_replication)."""

    exists: bool
    active: bool = False
    lag_bytes: int | None = None  # WAL the edge has yet to confirm
    replay_lag_seconds: float | None = None  # while connected
    reply_at: Any = None  # the edge's last status message, while connected


def slot_state(site_code: str) -> Slot:
    if connection.vendor != "postgresql":
        return Slot(exists=False)
    name = publication_name(site_code)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.active, pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint, "
            "extract(epoch FROM r.replay_lag), r.reply_time "
            "FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid "
            "WHERE s.slot_name = %s",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return Slot(exists=False)
    active, lag, replay, reply = row
    return Slot(True, bool(active), None if lag is None else int(lag), None if replay is None else float(replay), reply)
