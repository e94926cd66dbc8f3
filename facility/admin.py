from __future__ import annotations

from django.contrib import admin

from audit.admin import AuditedAdmin
from facility.models import Site


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    """Sites and their edge nodes (docs/edge.md); a site's stations are set on each station."""

    list_display = ["code", "name", "edge_ae_title", "active"]
    search_fields = ["code", "name"]
