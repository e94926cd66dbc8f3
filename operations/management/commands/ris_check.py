"""python manage.py ris_check: check this installation, print a table, exit 1 on any failure."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from audit.context import acting_as
from audit.models import Interface
from operations.checks import FAIL, WARN, Options, run_checks


class Command(BaseCommand):
    help = "Check the installation (database, broker, Celery, time, gateway, HL7, stations, TLS, disk, backup, audit)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--worker-wait", type=float, default=10.0, help="seconds to wait for a Celery worker")
        parser.add_argument("--skip", action="append", default=[], help="a check not to run (repeatable)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        with acting_as(Interface.SYSTEM, "ris_check"):
            results = run_checks(Options(worker_wait=options["worker_wait"], skip=set(options["skip"])))
        failed = [r for r in results if r.status == FAIL]
        if options["json"]:
            self.stdout.write(json.dumps([r.__dict__ for r in results], indent=2, ensure_ascii=False))
        else:
            width = max(len(r.name) for r in results)
            for r in results:
                mark = {FAIL: "FAIL", WARN: "warn"}.get(r.status, "ok")
                self.stdout.write(f"{mark:4}  {r.name:{width}}  {r.detail}")
                if r.fix and r.status != "ok":
                    self.stdout.write(f"{'':4}  {'':{width}}  -> {r.fix}")
            self.stdout.write(
                f"\n{len(results) - len(failed)} of {len(results)} checks passed"
                + (f"; failed: {', '.join(r.name for r in failed)}" if failed else "")
            )
        if failed:
            sys.exit(1)
