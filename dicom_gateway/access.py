"""Who may associate: the live list of known calling AE titles (active
stations) with their DICOM profiles, and the AE subclass that gives it to
pynetdicom as its calling-AE allow-list. The limits on how many may
associate at once are admission.py's."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection
from pynetdicom import AE
from pynetdicom.events import Event

from dicom_gateway.encoding import ProfileSettings
from mwl_ris.lib.db import deadline

logger = logging.getLogger(__name__)


def peer_of(event: Event) -> str:
    """The requestor's address:port, as logs and records name it."""
    requestor = event.assoc.requestor
    return f"{requestor.address}:{requestor.port}"


def is_health_probe(event: Event) -> bool:
    """The health probe's AE title (MWL_HEALTH_AE_TITLE); server.py lets it in from loopback, for C-ECHO only."""
    return calling_ae_of(event) == settings.MWL_HEALTH_AE_TITLE


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def calling_ae_of(event: Event) -> str:
    """The calling AE title; at EVT_REQUESTED pynetdicom has not copied it
    from the A-ASSOCIATE-RQ to the requestor yet, so it is read from there."""
    title = str(event.assoc.requestor.ae_title or "").strip()
    if not title and event.assoc.requestor.primitive is not None:
        title = str(event.assoc.requestor.primitive.calling_ae_title or "").strip()
    return title


@dataclass(frozen=True)
class Caller:
    ae_title: str
    ip: str | None
    profile: ProfileSettings
    tls_required: bool = False  # refused on the plain port


class AccessPolicy:
    """Known calling AE titles (active stations) with their profiles, re-read
    from the database every ``ttl`` seconds by a background thread: an
    association never waits for the database here (during an outage it is
    served, or refused, from the last list read)."""

    def __init__(self, *, allow_any: bool, check_ip: bool, ttl: float = 5.0):
        self.allow_any, self.check_ip, self.ttl = allow_any, check_ip, ttl
        self._callers: dict[str, Caller] = {}
        self._loaded_at = 0.0
        self._loaded = False
        self._refreshing = threading.Lock()

    def callers(self) -> dict[str, Caller]:
        if not self._loaded:  # the first association: it waits for the first list
            self.invalidate()
        elif time.monotonic() - self._loaded_at > self.ttl and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="mwl-stations", daemon=True).start()
        return self._callers

    def _refresh(self) -> None:
        """Runs holding ``_refreshing`` (taken by the caller), and releases it."""
        try:
            connection.ensure_connection()
            with deadline(settings.MWL_DB_DEADLINE):
                self._callers = self._load()
            self._loaded = True
        except DatabaseError:
            logger.exception("could not read stations; keeping the previous list")
        finally:
            self._loaded_at = time.monotonic()  # failed or not: next try after ttl
            connection.close()
            self._refreshing.release()

    def invalidate(self) -> None:
        """Read the stations now (after a change that must apply at once)."""
        self._refreshing.acquire()  # waits for a refresh in flight
        self._refresh()

    @staticmethod
    def _load() -> dict[str, Caller]:
        from facility.models import Site
        from scheduling.models import Station

        callers = {
            s.ae_title.strip(): Caller(
                s.ae_title.strip(), s.ip_address, ProfileSettings.from_profile(s.dicom_profile), s.tls_required
            )
            for s in Station.objects.filter(active=True).select_related("dicom_profile")
        }
        # edge nodes forwarding their modalities' MPPS (docs/edge.md); a station of the same title wins
        for ae_title in Site.objects.filter(active=True, edge_ae_title__gt="").values_list("edge_ae_title", flat=True):
            callers.setdefault(ae_title.strip(), Caller(ae_title.strip(), None, ProfileSettings()))
        return callers

    def lookup(self, ae_title: str) -> Caller | None:
        return self.callers().get(ae_title.strip())

    def allowed_calling_aets(self) -> list[str]:
        if self.allow_any:
            return []
        # the health probe's AE title (ris_probe, compose's health check): C-ECHO from this host only (server.py)
        return [*self.callers(), settings.MWL_HEALTH_AE_TITLE]


class GatewayAE(AE):
    """An AE whose calling-AE allow-list is the live list of stations."""

    policy: AccessPolicy

    @property
    def require_calling_aet(self) -> list[str]:
        return self.policy.allowed_calling_aets()

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:  # the base __init__ assigns it
        pass
