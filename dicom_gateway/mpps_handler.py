"""The MPPS handlers (N-CREATE, N-SET): decode the dataset, let mpps.py
apply it under the caller's identity, and answer; when the database is
down, the refusal is journalled (recorder.py) since no transaction held it."""

from __future__ import annotations

import logging
from typing import cast

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone
from pydicom import Dataset
from pynetdicom.dimse_primitives import N_CREATE, N_SET
from pynetdicom.events import Event

from audit.context import acting_as
from audit.models import Interface
from dicom_gateway import status
from dicom_gateway.access import calling_ae_of, peer_of
from dicom_gateway.mpps import Answer, mpps_create, mpps_set
from dicom_gateway.recorder import QueryRecorder
from edge.services import is_edge, outbox_queue
from facility.models import Site
from monitoring.metrics import MPPS
from mwl_ris.lib.db import deadline

logger = logging.getLogger(__name__)


def _outcome(code: int) -> str:
    """success; refused (the request was wrong: 0xA…, 0x01…, 0x0106…); failed (ours: 0x0110, 0xC…)."""
    if code == status.SUCCESS:
        return "success"
    return "failed" if code in (status.PROCESSING_FAILURE,) or code >= 0xC000 else "refused"


class MppsHandler:
    """EVT_N_CREATE and EVT_N_SET for Modality Performed Procedure Step."""

    def __init__(self, *, recorder: QueryRecorder):
        self.recorder = recorder

    def _mpps(self, event: Event, operation: str) -> tuple[Dataset, Dataset | None]:
        calling = calling_ae_of(event)
        request = event.request
        close_old_connections()
        try:
            connection.ensure_connection()
            with deadline(settings.MWL_DB_DEADLINE), acting_as(Interface.DICOM, calling, ip=peer_of(event)):
                try:
                    dataset = event.attribute_list if operation == "N-CREATE" else event.modification_list
                except Exception as exc:  # noqa: BLE001 - an undecodable dataset is the caller's
                    answer = Answer(status.INVALID_ATTRIBUTE_VALUE, f"Dataset cannot be decoded: {type(exc).__name__}")
                else:
                    answer = self._apply(operation, cast(N_CREATE | N_SET, request), dataset, calling)
        except DatabaseError:
            logger.exception("MPPS %s from %s failed", operation, calling)
            answer = Answer(status.PROCESSING_FAILURE, "RIS database unavailable; try again shortly")
            # mpps.py audits in its own transaction; this answer had none, so the journal keeps it
            self.recorder.record_audit(
                at=timezone.now(),
                interface=Interface.DICOM,
                actor=calling[:150],
                ip=peer_of(event)[:64],
                action=f"mpps-{operation.lower()}",
                object_type="dicom_gateway.PerformedProcedureStep",
                ae_title=calling[:16],
                summary=f"{operation} refused: database unavailable status=0x{answer.status:04X}",
                after={"status": answer.status},
            )
        finally:
            connection.close()
        MPPS.labels(operation=operation, outcome=_outcome(answer.status)).inc()
        logger.info(
            "MPPS %s peer=%s calling_ae=%s status=0x%04X%s",
            operation,
            peer_of(event),
            calling,
            answer.status,
            f" comment={answer.comment}" if answer.comment else "",
        )
        return answer.status_dataset(), answer.dataset

    @staticmethod
    def _apply(operation: str, request: N_CREATE | N_SET, dataset: Dataset, calling: str) -> Answer:
        """Apply the MPPS here. At an edge node, an accepted one is queued for
        the centre in the same transaction (edge/services.py); at the centre,
        one an edge forwards follows the conflict rule (mpps._flag)."""
        edge = is_edge()
        from_edge = not edge and Site.objects.filter(edge_ae_title=calling, active=True).exists()
        with transaction.atomic():
            if operation == "N-CREATE":
                answer = mpps_create(
                    sop_instance_uid=cast(N_CREATE, request).AffectedSOPInstanceUID,
                    attributes=dataset,
                    calling_ae=calling,
                    from_edge=from_edge,
                )
            else:
                answer = mpps_set(
                    sop_instance_uid=str(cast(N_SET, request).RequestedSOPInstanceUID or ""),
                    modifications=dataset,
                    calling_ae=calling,
                    from_edge=from_edge,
                )
            if edge and answer.status == status.SUCCESS and answer.step is not None:
                outbox_queue(
                    operation=operation,
                    sop_instance_uid=answer.step.sop_instance_uid,
                    dataset=dataset,
                    calling_ae=calling,
                )
        return answer

    def handle_n_create(self, event: Event) -> tuple[Dataset, Dataset | None]:
        return self._mpps(event, "N-CREATE")

    def handle_n_set(self, event: Event) -> tuple[Dataset, Dataset | None]:
        return self._mpps(event, "N-SET")
