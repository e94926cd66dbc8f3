"""The audit jobs: seal new records into the chain, verify it, export closed
days and prune the database beyond the retention (only after a verified export)."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.context import acting_as
from audit.models import Interface
from audit.services import audit_export_closed_days, audit_prune, audit_seal, audit_verify

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def audit_seal_task() -> int:
    with acting_as(Interface.CELERY, "audit_seal"):
        return audit_seal()


@shared_task(ignore_result=True)
def audit_verify_task() -> bool:
    with acting_as(Interface.CELERY, "audit_verify"):
        audit_seal()
        result = audit_verify()
    if not result.ok:
        logger.error("audit chain broken: %s", result.detail)
    return result.ok


@shared_task(ignore_result=True)
def audit_export_and_prune_task() -> dict[str, int]:
    with acting_as(Interface.CELERY, "audit_export"):
        exported = audit_export_closed_days()
        pruned = audit_prune()
    return {"exported_days": len(exported), "pruned_records": pruned}
