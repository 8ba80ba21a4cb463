"""Wall time and peak memory of one call.

Peak memory is the sampled growth of the process's resident set during the call (it sees native TensorFlow
allocations too; memory the process already held and reuses is not counted: small numbers are lower bounds).
tracemalloc is not used: it slows pandas/numpy-heavy code several times.
"""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psutil

T = TypeVar("T")


def measure(fn: Callable[[], T], *, interval: float = 0.02) -> tuple[T, float, float]:
    """Returns (result, seconds, peak MiB of resident-set growth)."""
    process = psutil.Process()
    start_rss = process.memory_info().rss
    peak = start_rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        result = fn()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    peak = max(peak, process.memory_info().rss)
    return result, seconds, (peak - start_rss) / 2**20
