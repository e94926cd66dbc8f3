"""What the centre and an edge know about each edge node, and what is wrong
with it: one place for the rules the stations page, ris_check and the metrics
all show."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from edge.models import EdgeStatus
from edge.replication import Slot, Subscription, slot_state, subscription_state
from facility.models import Site
from monitoring.models import ServiceHeartbeat

OK, WARN, FAIL = "ok", "warn", "fail"


def _at(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y %H:%M") if moment else _("never")


@dataclass
class EdgeView:
    site: Site
    slot: Slot | None = None  # at the centre
    subscription: Subscription | None = None  # at the edge
    status: EdgeStatus | None = None  # reported by the edge (at the centre) or its own (at the edge)
    forwarder_seen: dt.datetime | None = None  # at the edge
    problems: list[tuple[str, str]] = field(default_factory=list)  # (warn|fail, text)

    @property
    def level(self) -> str:
        levels = {level for level, _text in self.problems}
        return FAIL if FAIL in levels else WARN if WARN in levels else OK

    @property
    def connected(self) -> bool:
        if self.slot is not None:
            return self.slot.active
        return bool(self.subscription and self.subscription.running)

    def age_seconds(self, moment: dt.datetime | None) -> float | None:
        return (timezone.now() - moment).total_seconds() if moment else None


def _outbox_problems(view: EdgeView, status: EdgeStatus, limit: dt.timedelta) -> None:
    if status.oldest_unforwarded_at and timezone.now() - status.oldest_unforwarded_at > limit:
        view.problems.append(
            (
                WARN,
                _("%(count)d MPPS not yet forwarded, the oldest from %(at)s.")
                % {"count": status.outbox_depth, "at": _at(status.oldest_unforwarded_at)},
            )
        )
    if status.refused:
        view.problems.append(
            (
                WARN,
                _("%(count)d MPPS refused by the centre: see edge_forward --list at the edge.")
                % {"count": status.refused},
            )
        )


def central_edges() -> list[EdgeView]:
    """At the centre: every active site with an edge node."""
    limit = dt.timedelta(minutes=settings.EDGE_WARN_MINUTES)
    reports = {s.site_code: s for s in EdgeStatus.objects.all()}
    views = []
    for site in Site.objects.filter(active=True, edge_ae_title__gt="").order_by("code"):
        view = EdgeView(site, slot=slot_state(site.code), status=reports.get(site.code))
        assert view.slot is not None
        if not view.slot.exists:
            view.problems.append(
                (FAIL, _("No replication slot: the edge has not subscribed (edge_setup subscribe at the edge)."))
            )
        elif not view.slot.active:
            view.problems.append(
                (
                    WARN,
                    _("The edge is not connected; its worklist is as of %(at)s.")
                    % {"at": _at(view.status.worklist_as_of if view.status else None)},
                )
            )
        if view.status is None:
            view.problems.append((WARN, _("The edge has never reported (is edge_forward running there?).")))
        else:
            if timezone.now() - view.status.reported_at > limit:
                view.problems.append(
                    (WARN, _("Last contact from the edge: %(at)s.") % {"at": _at(view.status.reported_at)})
                )
            _outbox_problems(view, view.status, limit)
        views.append(view)
    return views


def this_edge() -> EdgeView:
    """At an edge node: its subscription, its forwarder and its outbox."""
    limit = dt.timedelta(minutes=settings.EDGE_WARN_MINUTES)
    code = settings.RIS_SITE
    site = Site.objects.filter(code=code).first() or Site(code=code, name=code)
    view = EdgeView(
        site, subscription=subscription_state(code), status=EdgeStatus.objects.filter(site_code=code).first()
    )
    beat = ServiceHeartbeat.objects.filter(service="edge_forward").order_by("-last_seen").first()
    view.forwarder_seen = beat.last_seen if beat and not beat.stopped else None
    subscription = view.subscription
    assert subscription is not None
    as_of = view.status.worklist_as_of if view.status else None
    if not subscription.exists:
        view.problems.append((FAIL, _("No subscription: run edge_setup subscribe.")))
    elif not subscription.enabled:
        view.problems.append((FAIL, _("The subscription is disabled: see the PostgreSQL log, then edge_setup status.")))
    elif subscription.syncing:
        view.problems.append((WARN, _("%(n)d table(s) still in their first copy.") % {"n": subscription.syncing}))
    elif not subscription.running:
        view.problems.append(
            (WARN, _("Not connected to the centre: the worklist is as of %(at)s.") % {"at": _at(as_of)})
        )
    elif as_of and timezone.now() - as_of > limit:
        view.problems.append((WARN, _("The worklist is as of %(at)s.") % {"at": _at(as_of)}))
    heartbeat_limit = dt.timedelta(seconds=3 * settings.HEARTBEAT_SECONDS + 30)
    if view.forwarder_seen is None or timezone.now() - view.forwarder_seen > heartbeat_limit:
        view.problems.append((FAIL, _("edge_forward is not running: MPPS are kept but not forwarded.")))
    if view.status is not None:
        _outbox_problems(view, view.status, limit)
    return view
