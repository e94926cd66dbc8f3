from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from api.audit import AuditRecordViewSet
from api.dicom_gateway import (
    AssociationRecordViewSet,
    CapturedQueryViewSet,
    PerformedStepViewSet,
    ProfileViewSet,
    WorklistExplainApi,
)
from api.hl7_interface import (
    DestinationViewSet,
    InboundMessageViewSet,
    OutboundMessageViewSet,
    ProcedureCodeMapViewSet,
)
from api.orders import OrderViewSet, ProcedureViewSet
from api.patients import PatientViewSet
from api.scheduling import AppointmentViewSet, StationViewSet
from api.worklist import WorklistItemViewSet
from operations import views as operations_views


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability for load balancers and compose."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": connection.vendor})


router = DefaultRouter()
router.register("patients", PatientViewSet, basename="patient")
router.register("procedures", ProcedureViewSet, basename="procedure")
router.register("orders", OrderViewSet, basename="order")
router.register("stations", StationViewSet, basename="station")
router.register("appointments", AppointmentViewSet, basename="appointment")
router.register("worklist", WorklistItemViewSet, basename="worklist")
router.register("profiles", ProfileViewSet, basename="profile")
router.register("captured-queries", CapturedQueryViewSet, basename="captured-query")
router.register("associations", AssociationRecordViewSet, basename="association")
router.register("mpps", PerformedStepViewSet, basename="mpps")
router.register("audit", AuditRecordViewSet, basename="audit")
router.register("hl7-messages", InboundMessageViewSet, basename="hl7-message")
router.register("hl7-code-map", ProcedureCodeMapViewSet, basename="hl7-code-map")
router.register("hl7-destinations", DestinationViewSet, basename="hl7-destination")
router.register("hl7-outbound", OutboundMessageViewSet, basename="hl7-outbound")

urlpatterns = [
    path("", include("ui.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", healthz, name="healthz"),
    path("readyz", operations_views.readyz, name="readyz"),
    path("metrics", operations_views.metrics, name="metrics"),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/worklist-explain/", WorklistExplainApi.as_view(), name="worklist-explain"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        # Swagger UI's script adds <style> elements as it renders: inline style on this page only;
        # its start-up script is a separate file (the split view), so scripts stay 'self'.
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
]
