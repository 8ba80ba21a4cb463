"""Wall time and peak memory of one call.

Peak memory is the larger of the traced Python/numpy allocation peak (tracemalloc) and the sampled growth of the
resident set (which also sees native TensorFlow allocations, but not memory the process reuses).
"""

import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import psutil

T = TypeVar("T")
# Peaks of enclosing measurements, saved before a nested one resets tracemalloc's peak.
_open_peaks: list[int] = []


def measure(fn: Callable[[], T], *, interval: float = 0.02) -> tuple[T, float, float]:
    """Returns (result, seconds, peak MiB)."""
    process = psutil.Process()
    start_rss = process.memory_info().rss
    rss_peak = start_rss
    done = threading.Event()

    def sample() -> None:
        nonlocal rss_peak
        while not done.is_set():
            rss_peak = max(rss_peak, process.memory_info().rss)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    current, peak = tracemalloc.get_traced_memory()
    _open_peaks[:] = [max(p, peak) for p in _open_peaks]
    tracemalloc.reset_peak()
    _open_peaks.append(current)
    started = time.perf_counter()
    try:
        result = fn()
    finally:
        seconds = time.perf_counter() - started
        traced_peak = max(_open_peaks.pop(), tracemalloc.get_traced_memory()[1]) - current
        if started_tracing:
            tracemalloc.stop()
        done.set()
        sampler.join()
    rss_peak = max(rss_peak, process.memory_info().rss)
    return result, seconds, max(rss_peak - start_rss, traced_peak) / 2**20
