"""The service's counters and input latency histogram, served on ``/metrics``."""

from __future__ import annotations

import threading

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters and a latency histogram in the Prometheus text format; updated from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {
            name: 0
            for name in (
                "inputs",
                "acks",
                "products",
                "notifications",
                "rejections",
                "retries",
                "dead_letters",
                "reconnects",
                "retries_expired",
            )
        }
        self._buckets = [0] * len(LATENCY_BUCKETS_S)
        self._latency_sum = 0.0
        self._latency_count = 0

    def count(self, name: str, amount: int = 1) -> None:
        """Add to one counter."""
        with self._lock:
            self.counters[name] += amount

    def observe_latency(self, seconds: float) -> None:
        """Record the time from delivery to the final broker action of one input."""
        with self._lock:
            self._latency_sum += seconds
            self._latency_count += 1
            for index, bound in enumerate(LATENCY_BUCKETS_S):
                if seconds <= bound:
                    self._buckets[index] += 1

    def render(self) -> str:
        """The exposition text served on ``/metrics``."""
        with self._lock:
            lines = []
            for name, value in self.counters.items():
                lines += [f"# TYPE vtac_{name}_total counter", f"vtac_{name}_total {value}"]
            lines.append("# TYPE vtac_input_latency_seconds histogram")
            for bound, value in zip(LATENCY_BUCKETS_S, self._buckets, strict=True):
                lines.append(f'vtac_input_latency_seconds_bucket{{le="{bound}"}} {value}')
            lines.append(f'vtac_input_latency_seconds_bucket{{le="+Inf"}} {self._latency_count}')
            lines.append(f"vtac_input_latency_seconds_sum {self._latency_sum:.6f}")
            lines.append(f"vtac_input_latency_seconds_count {self._latency_count}")
        return "\n".join(lines) + "\n"
