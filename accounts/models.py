"""What accounts keep beside Django's users and groups."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiTokenUse(models.Model):
    """When and from where an API token was last used (DRF's Token has no such
    field). Gone with the token: a re-issued or revoked key starts afresh."""

    token = models.OneToOneField(
        "authtoken.Token", primary_key=True, on_delete=models.CASCADE, related_name="use", verbose_name=_("token")
    )
    last_used_at = models.DateTimeField(_("last used"))
    last_address = models.GenericIPAddressField(_("last used from"), null=True, blank=True)
    uses = models.PositiveIntegerField(_("requests (counted once a minute at most)"), default=0)

    class Meta:
        verbose_name = _("API token use")
        verbose_name_plural = _("API token uses")

    def __str__(self) -> str:
        return f"{self.token_id[:6]}… {self.last_used_at:%Y-%m-%d %H:%M}"
