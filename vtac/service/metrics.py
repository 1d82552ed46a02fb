"""The service's counters and input latency histogram, served on ``/metrics`` (Prometheus text format).

Built on ``prometheus_client`` with a registry of each :class:`Metrics` own (not the process-wide default),
so two services in one process (the tests, a bench) never share or clash on a counter. Metric names are
those of the hand-written exposition they replace: ``vtac_<name>_total`` and ``vtac_input_latency_seconds``.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: What each counter counts (the HELP line of the exposition).
COUNTERS = {
    "inputs": "Inputs decided (acked, retried or dead-lettered).",
    "acks": "Inputs acked after every notification was confirmed.",
    "products": "Product versions notified.",
    "notifications": "Notifications confirmed by the broker.",
    "rejections": "Inputs rejected as invalid (dead-lettered at once).",
    "retries": "Inputs sent to the delay queue for another attempt.",
    "dead_letters": "Inputs dead-lettered, with the reason.",
    "reconnects": "Broker connections lost and attempted again.",
    "retries_expired": "Inputs given up after the retry budget (an alert: an outage outlasted it).",
}
#: Media type of :meth:`Metrics.render`.
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Counters and a latency histogram; updated from any thread (prometheus_client locks)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters = {
            name: Counter(f"vtac_{name}", text, registry=self.registry) for name, text in COUNTERS.items()
        }
        self._latency = Histogram(
            "vtac_input_latency_seconds",
            "Time from delivery to the final broker action of one input.",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def count(self, name: str, amount: int = 1) -> None:
        """Add to one counter."""
        self._counters[name].inc(amount)

    def observe_latency(self, seconds: float) -> None:
        """Record the time from delivery to the final broker action of one input."""
        self._latency.observe(seconds)

    @property
    def counters(self) -> dict[str, int]:
        """Every counter's current value, by short name."""
        return {name: int(self.registry.get_sample_value(f"vtac_{name}_total") or 0) for name in COUNTERS}

    def render(self) -> str:
        """The exposition text served on ``/metrics``."""
        return generate_latest(self.registry).decode("utf-8")
