"""Every write the RIS's own code makes to a record it keeps must leave an audit
record: a service that forgets to call audit.services.audit_record fails every
test that runs it (tests/conftest.py's ``every_write_is_audited``).

How: while a test runs, every save and delete of a watched model is noted,
with the first frame of the project's code that made it. Writes made by test
code itself (fixtures building rows directly, bench helpers) are not the
RIS's and are left out. When the test ends, each noted write whose effect is
still in the database (not rolled back) must have an audit record naming its
model and primary key. Queryset ``update()`` calls send no signal; the
services that use them (status changes, moves) are covered by their own
tests of the records they write.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from django.apps import apps
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
NOT_RIS_CODE = (ROOT / "tests", ROOT / "bench")

# Models whose rows need no audit record of their own, and why. A model that
# is neither here nor audited fails the test that writes it: a new model forces
# the choice.
EXEMPT: dict[str, str] = {
    "audit.AuditRecord": "the trail itself",
    "audit.ChainHead": "the trail's seal",
    "audit.AuditExport": "the trail's archive bookkeeping",
    "audit.Verification": "the trail's own checks",
    "worklist.WorklistItem": "a projection of audited orders, appointments and patients",
    "orders.Counter": "accession and ID counters; the numbers show in the audited orders",
    "patients.PossibleDuplicate": "a review flag raised by an audited registration; its resolution is audited",
    "dicom_gateway.CapturedQuery": "the gateway's query log; each query is audited by the recorder",
    "dicom_gateway.AssociationRecord": "the gateway's association log; each association is audited by the recorder",
    "dicom_gateway.RecorderJournal": "the recorder's own shipping bookkeeping",
    "hl7_interface.OutboundMessage": "queued by an audited status change; each delivery attempt is audited",
    "reminders.Reminder": "the claim row of a reminder; the sending is audited",
    "accounts.ApiTokenUse": "a token's last use, for the API tokens page; what its user changes is audited",
    "monitoring.ServiceHeartbeat": "a service process saying it runs; no patient data, nobody's action",
    "monitoring.JobRun": "a Celery job's run counts; what the job changes is audited",
    "monitoring.UpdateTiming": "how long an update took; the update itself is audited",
    "edge.OutboxMessage": "an edge's queue of MPPS it accepted; each MPPS is audited where it is applied",
    "edge.Hold": "an exam an audited MPPS at the edge started, kept off its list until the centre catches up",
    "edge.EdgeStatus": "an edge node's state (lag, outbox depth); no patient data, nobody's action",
}
# (authtoken.Token is audited under its user's ID: the key never goes in the trail.)
EXTRA_WATCHED = ("auth.User", "auth.Group")


def watched_models() -> list[type[Model]]:
    project = [
        model
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(ROOT) and not Path(config.path).resolve().is_relative_to(VENV)
        for model in config.get_models()
    ]
    extra = [apps.get_model(label) for label in EXTRA_WATCHED]
    return [m for m in [*project, *extra] if m._meta.label not in EXEMPT and not m._meta.proxy]


def _ris_frame() -> str | None:
    """file:line of the innermost frame of the RIS's own code that led here, or
    None when the write came from test or bench code."""
    frame: FrameType | None = sys._getframe(2)
    here = str(Path(__file__).resolve())
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_absolute() and str(path) != here and path.is_relative_to(ROOT) and not path.is_relative_to(VENV):
            if any(path.is_relative_to(p) for p in NOT_RIS_CODE):
                return None
            if "migrations" in path.parts:
                return None
            if path.name == "models.py":  # a model's own save(): who called it is the origin
                frame = frame.f_back
                continue
            return f"{path.relative_to(ROOT)}:{frame.f_lineno}"
        frame = frame.f_back
    return None


@dataclass
class Write:
    label: str
    pk: str
    kind: str  # "save" or "delete"
    where: str
    model: type[Model] = field(repr=False)


class AuditWatch:
    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.models = watched_models()

    def _saved(self, sender: type[Model], instance: Model, raw: bool = False, **kwargs: Any) -> None:
        if raw:
            return
        where = _ris_frame()
        if where is not None:
            self.writes.append(Write(sender._meta.label, str(instance.pk), "save", where, sender))

    def _deleted(self, sender: type[Model], instance: Model, **kwargs: Any) -> None:
        where = _ris_frame()
        if where is not None:
            self.writes.append(Write(sender._meta.label, str(instance.pk), "delete", where, sender))

    def start(self) -> None:
        for model in self.models:
            post_save.connect(
                self._saved, sender=model, weak=False, dispatch_uid=f"audit-watch-{id(self)}-{model._meta.label}"
            )
            post_delete.connect(
                self._deleted, sender=model, weak=False, dispatch_uid=f"audit-watch-del-{id(self)}-{model._meta.label}"
            )

    def stop(self) -> None:
        for model in self.models:
            post_save.disconnect(sender=model, dispatch_uid=f"audit-watch-{id(self)}-{model._meta.label}")
            post_delete.disconnect(sender=model, dispatch_uid=f"audit-watch-del-{id(self)}-{model._meta.label}")

    def unaudited(self) -> list[Write]:
        """The writes still in effect that no audit record names."""
        from audit.models import AuditRecord

        if not self.writes:
            return []
        recorded = set(
            AuditRecord.objects.filter(object_type__in={w.label for w in self.writes}).values_list(
                "object_type", "object_id"
            )
        )
        missing = []
        for write in self.writes:
            if (write.label, write.pk) in recorded:
                continue
            exists = write.model._default_manager.filter(pk=write.pk).exists()
            if (write.kind == "save") != exists:
                continue  # rolled back (a refused change) or removed again later
            missing.append(write)
        return missing
