"""The game server's RED metrics, derived from the records the indexer indexes.

Every indexed record counts once in ``reqtrail_requests_total`` and in the
``reqtrail_request_duration_seconds`` histogram, labelled by service, environment, route,
method, status class and app version; 5xx answers also count in
``reqtrail_request_errors_total``. Several indexers of one group each count the records
of their own partitions, so Prometheus sums them (docs/operations.md has the PromQL).

Cardinality is bounded: the first ``route_limit`` distinct routes keep their name and any
later one is counted under ``route="other"`` (``reqtrail_request_routes_folded_total``
says how many distinct routes were folded); methods outside the standard ones become
``other`` too.

Per record the loop pays, while the DocumentBuilder decodes it, a dictionary lookup by
the hash of its raw labels (the Document keeps only a reference to the series and the
latency), and, once it is indexed, one append of its latency to its series. The
latencies are tallied into the histogram in bulk (sorted, then bisected once per bound)
every TALLY_EVERY records on the loop's thread, and whenever the metrics are read. A route
folds when first seen, so a record rejected later may still have taken a route's place.
The histogram is kept here as plain lists and handed to prometheus-client only when it is
scraped.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from reqtrail.consumers.types import Document

# Seconds: prometheus-client's default buckets, which suit request latencies.
BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
)  # fmt: skip
LABEL_NAMES = ("service", "environment", "route", "method", "status_class", "app_version")
OTHER = "other"
DEFAULT_ROUTE_LIMIT = 200
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
RAW_KEYS_MAX = 100_000  # raw label tuples remembered (beyond: looked up the slow way)
FOLDED_ROUTES_MAX = 100_000  # distinct folded routes remembered for the counter
TALLY_EVERY = 16_384  # latencies observed are tallied after this many (or when read)

Labels = tuple[str, str, str, str, str, str]  # LABEL_NAMES, as exported
RawLabels = tuple[object, ...]  # the same fields as decoded: None or msgspec.UNSET possible


def _text(value: object) -> str:
    """A label value: absent, null and UNSET become the empty string."""
    return value if isinstance(value, str) else ""


class RequestMetrics(Collector):
    """Aggregates indexed records per label set; a prometheus-client collector."""

    def __init__(self, route_limit: int = DEFAULT_ROUTE_LIMIT) -> None:
        if route_limit < 1:
            raise ValueError(f"the route limit must be at least 1, got {route_limit}")
        self.route_limit = route_limit
        self._bounds_ms = [bound * 1000 for bound in BUCKETS_S]
        self._untallied = 0  # latencies observed since the last tally (about)
        self._lock = threading.Lock()  # one tally at a time: the loop or a scrape
        # A series is the latencies indexed since the last tally (what a Document holds)
        # and its cells: [sum of ms, count in bucket 0, ..., count above the last bound].
        self._by_raw: dict[int, list[float]] = {}
        self._series: dict[Labels, tuple[list[float], list[float]]] = {}
        self._routes: set[str] = set()
        self._folded_routes: set[str] = set()
        self.routes_folded = 0

    @property
    def known(self) -> dict[int, list[float]]:
        """Series by the hash of the raw labels as decoded (the DocumentBuilder's fast
        lookup). Keyed by the hash, the lookup skips comparing six fresh strings (a fifth
        of the metrics' cost per record). Two label sets are counted together only if
        their salted 64-bit hashes collide: odds of 3e-10 with RAW_KEYS_MAX sets known."""
        return self._by_raw

    def new(self, raw: RawLabels) -> list[float]:
        """The series of raw labels not in ``known`` (folded, normalised, then remembered)."""
        return self._series_for(raw)

    def observe(self, documents: Sequence[Document]) -> None:
        """Count these indexed documents, each of which the DocumentBuilder gave a series.

        Per document this only appends its latency to its series; the latencies are
        tallied into the histogram every TALLY_EVERY records and whenever it is read,
        sorted and bisected once per bucket bound (cheaper than a bisection per record)."""
        for document in documents:
            document.request.append(document.latency_ms)
        self._untallied += len(documents)
        if self._untallied >= TALLY_EVERY:
            self.tally()

    def tally(self) -> None:
        """Move the latencies observed so far into the series' sums and bucket counts.
        Safe beside ``observe`` on another thread: it takes only what it has read from
        the front of each list, and ``observe`` only appends."""
        bounds = self._bounds_ms
        with self._lock:
            self._untallied = 0
            for latencies, cells in list(self._series.values()):
                count = len(latencies)
                if not count:
                    continue
                values = latencies[:count]
                del latencies[:count]
                values.sort()
                cells[0] += sum(values)
                below = 0
                for cell, bound in enumerate(bounds, start=1):
                    upto = bisect_right(values, bound, below)
                    cells[cell] += upto - below
                    below = upto
                cells[-1] += count - below

    def _series_for(self, raw: RawLabels) -> list[float]:
        """The series of a label tuple not seen before (folded, normalised)."""
        service, environment, route, method, status, app_version = raw
        labels: Labels = (
            _text(service),
            _text(environment),
            self._route(_text(route)),
            method if isinstance(method, str) and method in METHODS else OTHER,
            f"{int(status) // 100}xx" if isinstance(status, int | float) else "",
            _text(app_version),
        )
        series = self._series.get(labels)
        if series is None:
            series = ([], [0.0, *[0] * (len(self._bounds_ms) + 1)])  # sum, integer counts
            self._series[labels] = series
        if len(self._by_raw) < RAW_KEYS_MAX:
            self._by_raw[hash(raw)] = series[0]
        return series[0]

    def _route(self, route: str) -> str:
        routes = self._routes
        if route in routes:
            return route
        if len(routes) < self.route_limit:
            routes.add(route)
            return route
        folded = self._folded_routes
        if route not in folded and len(folded) < FOLDED_ROUTES_MAX:
            folded.add(route)
            self.routes_folded += 1
        return OTHER

    @property
    def series(self) -> int:
        """Label sets exported (each is one histogram and one counter series)."""
        return len(self._series)

    def route_values(self) -> set[str]:
        """The route label values exported."""
        return {labels[2] for labels in list(self._series)}

    def snapshot(self) -> list[tuple[Labels, list[float]]]:
        """Every series' label values and a copy of its cells (safe from another thread)."""
        self.tally()
        return [(labels, list(cells)) for labels, (_, cells) in list(self._series.items())]

    def describe(self) -> list[Metric]:
        return list(self._families([]))

    def collect(self) -> Iterator[Metric]:
        return self._families(self.snapshot())

    def _families(self, snapshot: list[tuple[Labels, list[float]]]) -> Iterator[Metric]:
        duration = HistogramMetricFamily(
            "reqtrail_request_duration_seconds",
            "Server time of the game server's requests, from the indexed records.",
            labels=LABEL_NAMES,
        )
        requests = CounterMetricFamily(
            "reqtrail_requests",
            "Requests of the game server, from the indexed records.",
            labels=LABEL_NAMES,
        )
        errors = CounterMetricFamily(
            "reqtrail_request_errors",
            "Requests answered 5xx, from the indexed records.",
            labels=[name for name in LABEL_NAMES if name != "status_class"],
        )
        uppers = [repr(bound) for bound in BUCKETS_S] + ["+Inf"]
        failed: dict[tuple[str, ...], float] = {}
        for labels, cells in snapshot:
            cumulative: list[tuple[str, float]] = []
            running = 0.0
            for upper, count in zip(uppers, cells[1:], strict=True):
                running += count
                cumulative.append((upper, running))
            values = list(labels)
            duration.add_metric(values, cumulative, cells[0] / 1000)
            requests.add_metric(values, running)
            key = labels[:4] + labels[5:]  # every label set has its errors, 0 or more
            failed[key] = failed.get(key, 0.0) + (running if labels[4] == "5xx" else 0.0)
        for without_class, count in failed.items():
            errors.add_metric(list(without_class), count)
        folded = CounterMetricFamily(
            "reqtrail_request_routes_folded",
            f"Distinct routes counted as route={OTHER!r} because the route limit was reached.",
        )
        folded.add_metric([], float(self.routes_folded))
        yield from (duration, requests, errors, folded)
