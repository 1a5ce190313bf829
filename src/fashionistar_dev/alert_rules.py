"""The alert rules (``deploy/prometheus/alerts.yml``) and where each metric they read comes from.

A rule is only as good as its metric: a name nothing exports never fires. Every metric a rule
reads is either exported by the app itself (``/metrics``, checked against the real endpoint by
the tests) or listed in :data:`EXPORTER_METRICS` with the exporter that produces it, its image
and port, and how that was checked. The deploy files run each exporter and Prometheus scrapes it
(``tests/deploy/`` checks both against this list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ALERTS_FILE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
APP_METRIC_PREFIX = "fashionistar_"


@dataclass(frozen=True)
class ExporterMetric:
    """A metric an alert reads from an exporter, not from the app.

    Attributes:
        exporter: The exporter's project (and its Debian package, if there is one).
        image: Its container image on Docker Hub, without a tag.
        port: The port it serves ``/metrics`` on when no flag says otherwise.
        reads: What the exporter turns into the metric.
        checked: How this repository knows the exporter exports that name.
    """

    exporter: str
    image: str
    port: int
    reads: str
    checked: str


# --8<-- [start:exporter_metrics]
EXPORTER_METRICS: dict[str, ExporterMetric] = {
    "pgbouncer_pools_client_waiting_connections": ExporterMetric(
        exporter="prometheus-community/pgbouncer_exporter",
        image="prometheuscommunity/pgbouncer-exporter",
        port=9127,
        reads="SHOW POOLS, column cl_waiting, one series per database and user",
        checked="its collector.go maps cl_waiting to client_waiting_connections in the pools "
        "namespace, and its README lists the metric; it is not packaged for Debian, so it is not "
        "run here. Debian's "
        "prometheus-pgbouncer-exporter 1.7 is another exporter (pgbouncer_waiting_clients) and "
        "fails against PgBouncer 1.18 (KeyError: 'total_requests' in SHOW STATS)",
    ),
    "redis_sentinel_master_status": ExporterMetric(
        exporter="oliver006/redis_exporter (Debian package prometheus-redis-exporter), pointed at "
        "each Sentinel",
        image="oliver006/redis_exporter",
        port=9121,
        reads="SENTINEL MASTERS: one series per master_name and master_address",
        checked="tests/ops/test_alerts.py scrapes Debian's exporter against three native "
        "Sentinels and sees master_address change across a real failover",
    ),
}
# --8<-- [end:exporter_metrics]

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAMES = re.compile(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan"})
_HISTOGRAM_SERIES = re.compile(r"_(?:bucket|count|sum)$")


def promql_metric_names(expr: str) -> set[str]:
    """Find the metric names a PromQL expression reads.

    Strings, label matchers, ranges and ``by (...)``-style groupings are removed first; what
    is left that is neither a keyword nor a function (a name followed by ``(``) is a metric.
    A histogram's ``_bucket``, ``_count`` and ``_sum`` series count as the histogram.

    Args:
        expr: The expression.

    Returns:
        The metric names.
    """
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPINGS.sub("", text)
    names = set()
    for match in _NAMES.finditer(text):
        name = match.group()
        if name.lower() in _KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(_HISTOGRAM_SERIES.sub("", name))
    return names


def alert_rules(path: Path = ALERTS_FILE) -> list[dict[str, Any]]:
    """Read the alerting rules of a Prometheus rule file.

    Args:
        path: The file.

    Returns:
        Every rule with an ``alert`` name, in file order.
    """
    groups = yaml.safe_load(path.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


# --8<-- [start:alert_metrics]
def alert_metrics(path: Path = ALERTS_FILE) -> dict[str, set[str]]:
    """Map each alert to the metrics its expression reads.

    Args:
        path: The rule file.

    Returns:
        ``{"alert name": {"metric", ...}}``.
    """
    return {rule["alert"]: promql_metric_names(rule["expr"]) for rule in alert_rules(path)}


# --8<-- [end:alert_metrics]
