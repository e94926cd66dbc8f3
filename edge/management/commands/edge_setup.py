"""python manage.py edge_setup …: set up a site's edge node (docs/edge.md).

At the centre (DATABASE_URL: the central database):
  edge_setup publish --site KIB [--name "Kibaha Imaging Centre"] [--edge-ae EDGE_KIB] [--sql]
      the site, its replication user (password from EDGE_REPLICATION_PASSWORD, or made up and shown
      once) and its publication; prints the EDGE_CENTRAL_DATABASE_URL the edge needs.
  edge_setup unpublish --site KIB [--sql]
At the edge (RIS_ROLE=edge, RIS_SITE, EDGE_CENTRAL_DATABASE_URL):
  edge_setup subscribe [--rebuild] [--wait 120] [--sql]
      the schema (migrate), then the subscription; waits for the initial copy and shows what arrived.
  edge_setup wait [--wait 120]
      waits for the initial copy (after `subscribe --sql | psql`).
  edge_setup unsubscribe [--sql]
Either:
  edge_setup status

The replication user and the subscription need a PostgreSQL superuser. When DATABASE_URL is not one
(an installation: the app's own role), --sql prints the SQL instead, for `sudo -u postgres psql -d DB`;
everything else (the site, the messages) goes to stderr.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from edge import replication
from facility.models import Site
from facility.services import site_save
from mwl_ris.lib.errors import ApplicationError
from scheduling.models import Station
from worklist.models import WorklistItem


class Command(BaseCommand):
    help = "Set up an edge node: publish a site at the centre, subscribe to it at the edge (docs/edge.md)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["publish", "unpublish", "subscribe", "wait", "unsubscribe", "status"])
        parser.add_argument("--sql", action="store_true", help="Print the SQL a superuser runs, instead of running it.")
        parser.add_argument("--site", help="The site's code (at the centre; the edge uses RIS_SITE).")
        parser.add_argument("--name", default="", help="publish: the site's name (when it is new).")
        parser.add_argument("--edge-ae", default=None, help="publish: the AE title the edge forwards MPPS with.")
        parser.add_argument("--central-host", default="", help="publish: the centre's address as the edge sees it.")
        parser.add_argument("--rebuild", action="store_true", help="subscribe: drop and make the subscription again.")
        parser.add_argument("--wait", type=float, default=120.0, help="subscribe: seconds to wait for the copy.")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Edge nodes need PostgreSQL at the centre and at the edge (logical replication).")
        action = options["action"]
        try:
            getattr(self, action)(options)
        except (ApplicationError, ValueError, RuntimeError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from exc

    def _site_code(self, options: dict[str, Any], *, edge: bool) -> str:
        code = settings.RIS_SITE if edge else (options["site"] or "")
        if not code:
            raise CommandError("Set RIS_SITE (at the edge)." if edge else "Name the site: --site CODE.")
        return str(code).upper()

    def publish(self, options: dict[str, Any]) -> None:
        code = self._site_code(options, edge=False)
        edge_ae = options["edge_ae"]
        if edge_ae is None and not Site.objects.filter(code=code, edge_ae_title__gt="").exists():
            edge_ae = f"EDGE_{code}"[:16]
        site = site_save(code=code, name=options["name"], edge_ae_title=edge_ae)
        password = os.environ.get("EDGE_REPLICATION_PASSWORD") or secrets.token_urlsafe(24)
        statements = replication.publish_statements(site, password=password)
        out = self._run_or_print(statements, password, sql=options["sql"])
        stations = Station.objects.filter(site=site).count()
        items = WorklistItem.objects.filter(site_code=code).count()
        db = connection.settings_dict
        host = options["central_host"] or db.get("HOST") or "CENTRAL-ADDRESS"
        url = (
            f"postgresql://{replication.role_name(code)}:{quote(password, safe='')}@{host}:{db.get('PORT') or 5432}"
            f"/{db['NAME']}"
        )
        out.write(
            f"Site {site.code} ({site.name}) {'ready to publish' if options['sql'] else 'published'}: "
            f"{stations} station(s), {items} worklist item(s); its edge forwards MPPS as {site.edge_ae_title}."
        )
        if "EDGE_REPLICATION_PASSWORD" not in os.environ:
            out.write("The password was made up now and is shown only this once.")
        out.write(f"At the edge: EDGE_CENTRAL_DATABASE_URL={url}")

    def _run_or_print(self, statements: list[str], secret: str, *, sql: bool) -> Any:
        """Run the statements here, or print them for psql; returns where the messages go."""
        if sql:
            for statement in statements:
                self.stdout.write(f"{statement};")
            return self.stderr
        replication.run_statements(statements)
        for statement in replication.masked(statements, secret):
            self.stdout.write(f"  {statement}")
        return self.stdout

    def unpublish(self, options: dict[str, Any]) -> None:
        statements = replication.unpublish_statements(self._site_code(options, edge=False))
        self._run_or_print(statements, "", sql=options["sql"]).write(
            "Ready to unpublish." if options["sql"] else "Unpublished."
        )

    def subscribe(self, options: dict[str, Any]) -> None:
        if settings.RIS_ROLE != "edge":
            raise CommandError("subscribe runs at the edge: set RIS_ROLE=edge and RIS_SITE.")
        if not settings.EDGE_CENTRAL_DATABASE_URL:
            raise CommandError("Set EDGE_CENTRAL_DATABASE_URL (edge_setup publish at the centre prints it).")
        code = self._site_code(options, edge=True)
        call_command("migrate", interactive=False, verbosity=0)
        statements = replication.subscribe_statements(
            code, central_url=settings.EDGE_CENTRAL_DATABASE_URL, rebuild=options["rebuild"]
        )
        out = self._run_or_print(statements, "", sql=options["sql"])
        if options["sql"]:
            out.write("Run this SQL as a superuser at the edge, then: python manage.py edge_setup wait")
            return
        self.wait(options)

    def wait(self, options: dict[str, Any]) -> None:
        code = self._site_code(options, edge=True)
        deadline = time.monotonic() + options["wait"]
        state = replication.subscription_state(code)
        while (state.syncing or not state.running) and time.monotonic() < deadline:
            time.sleep(0.5)  # waiting on PostgreSQL's initial copy, which has no notification
            state = replication.subscription_state(code)
        if state.syncing or not state.running:
            raise CommandError(
                f"The subscription exists, but the copy is not done after {options['wait']:.0f} s "
                f"({state.syncing} table(s) still copying; running={state.running}). Check the centre is "
                "reachable and the edge's PostgreSQL log; then `edge_setup status`."
            )
        self.stdout.write(
            f"Subscribed to {replication.publication_name(code)}: {Station.objects.count()} station(s), "
            f"{WorklistItem.objects.count()} worklist item(s) copied."
        )

    def unsubscribe(self, options: dict[str, Any]) -> None:
        if options["sql"]:
            self._run_or_print(replication.unsubscribe_statements(self._site_code(options, edge=True)), "", sql=True)
            self.stderr.write("The slot at the centre stays: remove it there (docs/edge.md, Removing a site).")
            return
        for statement in replication.unsubscribe(self._site_code(options, edge=True)):
            self.stdout.write(f"  {statement}")
        self.stdout.write("Unsubscribed.")

    def status(self, options: dict[str, Any]) -> None:
        if settings.RIS_ROLE == "edge":
            state = replication.subscription_state(settings.RIS_SITE)
            self.stdout.write(
                f"edge {settings.RIS_SITE}: subscription exists={state.exists} enabled={state.enabled} "
                f"connected={state.running} tables copying={state.syncing} confirmed at={state.confirmed_at}"
            )
            return
        sites = Site.objects.filter(code=options["site"].upper()) if options["site"] else Site.objects.all()
        for site in sites:
            slot = replication.slot_state(site.code)
            self.stdout.write(
                f"site {site.code}: slot exists={slot.exists} active={slot.active} lag bytes={slot.lag_bytes} "
                f"replay lag s={slot.replay_lag_seconds}"
            )
