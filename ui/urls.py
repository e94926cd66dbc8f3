from django.urls import path

from ui.views import audit, booking, dashboard, daylist, facility, home, mpps, orders, patients, stations, tokens

app_name = "ui"

urlpatterns = [
    path("", home.home, name="home"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("patients/", patients.patient_search, name="patient-search"),
    path("patients/new/", patients.patient_new, name="patient-new"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient-detail"),
    path("patients/<int:pk>/edit/", patients.patient_edit, name="patient-edit"),
    path("patients/<int:pk>/merge/", patients.patient_merge_view, name="patient-merge"),
    path("patients/duplicates/", patients.patient_duplicates, name="patient-duplicates"),
    path(
        "patients/duplicates/<int:pk>/different/", patients.patient_duplicate_dismiss, name="patient-duplicate-dismiss"
    ),
    path("patients/<int:patient_pk>/orders/new/", orders.order_new, name="order-new"),
    path("procedures/choices/", orders.procedure_choices, name="procedure-choices"),
    path("orders/queue/", orders.order_queue, name="order-queue"),
    path("orders/<int:pk>/withdraw/", orders.order_withdraw, name="order-withdraw"),
    path("orders/<int:pk>/explain/", orders.order_explain, name="order-explain"),
    path("orders/<int:order_pk>/book/", booking.calendar_order, name="calendar-order"),
    path("orders/<int:order_pk>/book/confirm/", booking.book, name="book"),
    path("orders/<int:pk>/transition/", daylist.order_transition, name="order-transition"),
    path("orders/<int:pk>/undo/", daylist.order_undo, name="order-undo"),
    path("calendar/", booking.calendar_index, name="calendar-index"),
    path("calendar/<str:modality>/", booking.calendar, name="calendar"),
    path("appointments/<int:pk>/", booking.appointment_detail, name="appointment-detail"),
    path("appointments/<int:pk>/reschedule/", booking.appointment_reschedule_view, name="appointment-reschedule"),
    path("appointments/<int:pk>/cancel/", booking.appointment_cancel_view, name="appointment-cancel"),
    path("appointments/<int:pk>/slip/", booking.appointment_slip, name="appointment-slip"),
    path("daylist/", daylist.daylist, name="daylist"),
    path("daylist/rows/", daylist.daylist_rows, name="daylist-rows"),
    path("daylist/arrive/", daylist.daylist_arrive, name="daylist-arrive"),
    path("stations/", stations.stations, name="stations"),
    path("stations/<int:pk>/", stations.station_detail, name="station-detail"),
    path("stations/<int:pk>/worklist/", daylist.station_worklist, name="station-worklist"),
    path("closures/<int:pk>/", stations.closure_detail, name="closure-detail"),
    path("mpps/", mpps.mpps_list, name="mpps"),
    path("mpps/<int:pk>/link/", mpps.mpps_link_view, name="mpps-link"),
    path("audit/", audit.audit_search, name="audit"),
    path("audit/export/", audit.audit_export, name="audit-export"),
    path("settings/facility/", facility.facility_settings, name="facility-settings"),
    path("facility/logo", facility.facility_logo, name="facility-logo"),
    path("settings/api-tokens/", tokens.api_tokens, name="api-tokens"),
    path("settings/api-tokens/<int:user_pk>/issue/", tokens.api_token_issue_view, name="api-token-issue"),
    path("settings/api-tokens/<int:user_pk>/revoke/", tokens.api_token_revoke_view, name="api-token-revoke"),
]
