"""Every create, update and delete of the RIS's own records, from any interface,
through Django's model signals. Status changes and moves that services make
with queryset updates are recorded by the services themselves (audit_record)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models import Model
from django.db.models.signals import post_delete, post_init, post_save

from audit.services import audit_record

AUDITED = [
    "patients.Patient",
    "patients.PatientIdentifier",
    "patients.PatientMerge",
    "orders.Procedure",
    "orders.Order",
    "scheduling.Station",
    "scheduling.OpeningHours",
    "scheduling.Closure",
    "scheduling.Appointment",
    "dicom_gateway.Profile",
    "dicom_gateway.PerformedProcedureStep",
    "hl7_interface.ProcedureCodeMap",
    "hl7_interface.Destination",
    "auth.User",
    "auth.Group",
]
# Bookkeeping columns that change on every save and say nothing.
IGNORED_FIELDS = {"updated_at", "created_at", "password", "last_login", "name_search"}


def _values(instance: Model) -> dict[str, Any]:
    return {
        f.attname: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if f.attname not in IGNORED_FIELDS
    }


def _snapshot(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    instance._audit_before = _values(instance) if instance.pk is not None else None  # type: ignore[attr-defined]


def patient_id_of(instance: Model) -> str:
    """The Patient ID an audited object concerns (for searching the trail by patient)."""
    from patients.models import Patient

    label = instance._meta.label
    if label == "patients.Patient":
        return str(instance.patient_id)  # type: ignore[attr-defined]
    if label == "patients.PatientMerge":
        return str(getattr(instance, "source_patient_id", ""))
    if label == "dicom_gateway.PerformedProcedureStep":
        return str(getattr(instance, "patient_id_value", ""))
    holder: Any = instance
    if label == "scheduling.Appointment":
        holder = instance._state.fields_cache.get("order") or getattr(instance, "order", None)
    if holder is None or not hasattr(holder, "patient_id"):
        return ""
    cached = holder._state.fields_cache.get("patient")
    if cached is not None:
        return str(cached.patient_id)
    value = Patient.objects.filter(pk=holder.patient_id).values_list("patient_id", flat=True).first()
    return str(value or "")


def _saved(sender: type[Model], instance: Model, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:  # fixtures
        return
    after = _values(instance)
    before = getattr(instance, "_audit_before", None)
    if created or before is None:
        changed_before, changed_after, action = None, after, "create"
    else:
        keys = [k for k in after if before.get(k) != after[k]]
        if not keys:
            instance._audit_before = after  # type: ignore[attr-defined]
            return
        changed_before = {k: before.get(k) for k in keys}
        changed_after = {k: after[k] for k in keys}
        action = "update"
    audit_record(
        action,
        object_type=instance._meta.label,
        object_id=instance.pk,
        patient_id=patient_id_of(instance),
        summary=str(instance)[:300],
        before=changed_before,
        after=changed_after,
    )
    instance._audit_before = after  # type: ignore[attr-defined]


def _deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    audit_record(
        "delete",
        object_type=instance._meta.label,
        object_id=instance.pk,
        patient_id=patient_id_of(instance) if instance._meta.label != "scheduling.Appointment" else "",
        summary=str(instance)[:300],
        before=getattr(instance, "_audit_before", None) or _values(instance),
    )


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record("login", object_type="auth.User", object_id=user.pk, summary=f"{user.get_username()} logged in")


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record("logout", object_type="auth.User", object_id=user.pk, summary=f"{user.get_username()} logged out")


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record("login-failed", object_type="auth.User", actor=username, summary=f"failed login as {username!r}")


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="audit-login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit-logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit-login-failed")
    for label in AUDITED:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        uid = f"audit-{label}"
        post_init.connect(_snapshot, sender=model, dispatch_uid=uid + "-init")
        post_save.connect(_saved, sender=model, dispatch_uid=uid + "-save")
        post_delete.connect(_deleted, sender=model, dispatch_uid=uid + "-delete")
