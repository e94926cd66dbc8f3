from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_seal, audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; names the first edited or deleted record (exit status 1)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-seal", action="store_true", help="do not seal new records first")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_seal"]:
            audit_seal()
        result = audit_verify()
        if not result.ok:
            raise CommandError(f"audit chain BROKEN at record #{result.first_broken_seq}: {result.detail}")
        self.stdout.write(f"audit chain OK: {result.detail}")
