"""Edge node metrics, read when scraped: at the centre on the web's /metrics
(every site's edge, as last reported), at an edge on edge_forward's
EDGE_METRICS_PORT (this node). Labelled by site code."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError, connection
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.selectors import EdgeView, central_edges, this_edge


def _views() -> list[EdgeView]:
    return [this_edge()] if settings.RIS_ROLE == "edge" else central_edges()


class EdgeCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        try:
            views = _views()
        except DatabaseError:
            return
        finally:
            if settings.RIS_ROLE == "edge":
                connection.close()  # the scrape's own thread
        families = {
            "connected": GaugeMetricFamily(
                "ris_edge_connected", "1 while the edge's replication from the centre is connected", labels=["site"]
            ),
            "lag": GaugeMetricFamily(
                "ris_edge_replication_lag_bytes", "WAL the edge has yet to confirm (at the centre)", labels=["site"]
            ),
            "as_of": GaugeMetricFamily(
                "ris_edge_worklist_age_seconds", "Age of the edge's worklist copy (its last confirmed position)",
                labels=["site"],
            ),
            "contact": GaugeMetricFamily(
                "ris_edge_last_contact_age_seconds", "Seconds since the edge last reported", labels=["site"]
            ),
            "depth": GaugeMetricFamily("ris_edge_outbox_depth", "MPPS waiting at the edge", labels=["site"]),
            "oldest": GaugeMetricFamily(
                "ris_edge_oldest_unforwarded_age_seconds", "Age of the oldest MPPS waiting (0: none)", labels=["site"]
            ),
            "refused": GaugeMetricFamily(
                "ris_edge_outbox_refused", "MPPS the centre refused, kept for review", labels=["site"]
            ),
        }  # fmt: skip
        for view in views:
            site, status = [view.site.code], view.status
            families["connected"].add_metric(site, 1 if view.connected else 0)
            if view.slot is not None and view.slot.lag_bytes is not None:
                families["lag"].add_metric(site, view.slot.lag_bytes)
            if status is None:
                continue
            for key, moment in (("as_of", status.worklist_as_of), ("contact", status.reported_at)):
                age = view.age_seconds(moment)
                if age is not None:
                    families[key].add_metric(site, age)
            families["depth"].add_metric(site, status.outbox_depth)
            families["oldest"].add_metric(site, view.age_seconds(status.oldest_unforwarded_at) or 0.0)
            families["refused"].add_metric(site, status.refused)
        yield from families.values()
