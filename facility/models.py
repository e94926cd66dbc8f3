"""Who the department is, as its slips and letters say: one row per installation."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

LOGO_MAX_BYTES = 512 * 1024
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


class Facility(models.Model):
    """The hospital or imaging centre. A singleton (pk 1), edited by an admin on
    the facility settings page. The logo is kept in the database (small, and so
    it is in every backup and on every edge node without a media folder)."""

    name = models.CharField(_("name of the facility"), max_length=120, default="")
    department = models.CharField(_("department"), max_length=120, default="", blank=True)
    department_sw = models.CharField(_("department (Swahili)"), max_length=120, default="", blank=True)
    address = models.TextField(_("address"), blank=True, default="")
    phone = models.CharField(_("phone"), max_length=40, blank=True, default="")
    email = models.EmailField(_("e-mail"), blank=True, default="")
    logo = models.BinaryField(_("logo"), null=True, blank=True, editable=False)
    logo_content_type = models.CharField(max_length=20, blank=True, default="", editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("facility")
        verbose_name_plural = _("facility")
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="facility_singleton")]

    def __str__(self) -> str:
        return self.name or "—"

    def department_for(self, language: str) -> str:
        return self.department_sw if language == "sw" and self.department_sw else self.department


class Site(models.Model):
    """A place the department works: the main hospital, or a remote imaging
    centre with its own edge node (docs/edge.md). A site owns stations; the
    worklist items of its stations are what its edge node replicates."""

    name = models.CharField(_("name"), max_length=120)
    code = models.CharField(
        _("code"),
        max_length=16,
        unique=True,
        validators=[
            RegexValidator(r"^[A-Z][A-Z0-9_]{0,15}$", _("Capital letters, digits and _, starting with a letter."))
        ],
        help_text=_("Short and permanent: it names the site's publication and replication user."),
    )
    edge_ae_title = models.CharField(
        _("edge node AE title"),
        max_length=16,
        blank=True,
        help_text=_("The AE title the site's edge node forwards MPPS with; empty if the site has no edge node."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
