"""An open-loop HTTP load generator at a fixed rate, with latencies free of coordinated omission.

Run from the project root: `python bench/loadgen.py URL [--rate 100] [--seconds 15] [--connections 8]
[--method POST --body JSON] [--header "Authorization: Bearer ..."]`; `bench/api_throughput.py` imports
`run_fixed_rate`.

wrk measures the most a server can do, closed-loop: a slow answer delays the next request, so the requests a
stall would have hit are never sent and never counted ("coordinated omission"). Here request i is due at
`start + i / rate` whatever happened before; a few threads, each with one keep-alive `http.client`
connection, take the next due request, wait for its time and send it, and its latency is counted from the
time it was DUE, not from when a free thread got to send it. A server that stalls for 200 ms therefore
shows the 20 requests queued behind the stall at 100 req/s with their real waits.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Target:
    """One request, sent again and again: where, how, and with which headers and body."""

    host: str
    port: int
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class FixedRateResult:
    """Every request's latency from its due time, its status (0 for a transport error) and the run's span."""

    latencies_ms: list[float]
    statuses: list[int]
    seconds: float
    # How late the latest request was sent after its due time: large means the generator, not the server,
    # could not keep up (too few connections, or no CPU left for it).
    worst_send_lag_ms: float

    @property
    def achieved_rate(self) -> float:
        return len(self.statuses) / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        return sum(1 for status in self.statuses if not 200 <= status < 300)

    def percentile(self, fraction: float) -> float:
        """The nearest-rank percentile of the latencies (0.5 is the median); NaN when there are none."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_fixed_rate(
    target: Target, *, rate: float, seconds: float, connections: int = 8, timeout: float = 10.0
) -> FixedRateResult:
    """Send `rate * seconds` requests to `target`, request i due at `i / rate` s from the start."""
    total = max(1, round(rate * seconds))
    headers = {"Host": f"{target.host}:{target.port}", **target.headers}
    if target.body is not None:
        headers.setdefault("Content-Length", str(len(target.body)))
    due_indexes = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = [float("nan")] * total
    statuses: list[int] = [0] * total
    send_lags: list[float] = [0.0] * connections
    # A short delay before the first request so that every thread is waiting when it falls due.
    start = time.perf_counter() + 0.2

    def worker(slot: int) -> None:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
        try:
            while True:
                with lock:
                    index = next(due_indexes)
                if index >= total:
                    return
                due = start + index / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                send_lags[slot] = max(send_lags[slot], time.perf_counter() - due)
                try:
                    connection.request(target.method, target.path, body=target.body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    statuses[index] = response.status
                    if response.will_close:
                        connection.close()  # the next request opens a new connection, as a client would
                except (OSError, http.client.HTTPException):
                    connection.close()
                # From the due time: the wait for a free connection counts, as the user would feel it.
                latencies[index] = (time.perf_counter() - due) * 1000
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    span = time.perf_counter() - start
    return FixedRateResult(
        latencies_ms=latencies,
        statuses=statuses,
        seconds=span,
        worst_send_lag_ms=max(send_lags) * 1000,
    )


def target_from_url(url: str, *, method: str, headers: dict[str, str], body: bytes | None) -> Target:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"only plain http://host:port/path URLs, got {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.hostname, parts.port or 80, path, method.upper(), headers, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", help="the request body; sent as application/json")
    parser.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.connections < 1:
        raise SystemExit("--rate and --seconds must be positive, --connections at least 1")
    headers = dict(line.split(":", 1) for line in args.header)
    headers = {name.strip(): value.strip() for name, value in headers.items()}
    body = args.body.encode() if args.body is not None else None
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    target = target_from_url(args.url, method=args.method, headers=headers, body=body)
    result = run_fixed_rate(target, rate=args.rate, seconds=args.seconds, connections=args.connections)
    print(
        f"{len(result.statuses)} requests at {result.achieved_rate:.1f}/s (asked {args.rate:g}/s), "
        f"{result.failures} not 2xx; latency from the due time: p50 {result.percentile(0.5):.1f} ms, "
        f"p90 {result.percentile(0.9):.1f} ms, p99 {result.percentile(0.99):.1f} ms, "
        f"max {max(result.latencies_ms):.1f} ms; worst send lag {result.worst_send_lag_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
