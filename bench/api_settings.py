"""The project's settings for `bench/api_throughput.py`: the same in every respect but the URL table.

`bench.api_urls` adds the bare Django JSON view the API is compared against; it exists only under these
settings, so production never serves it. Everything else (DEBUG, Redis, the throttle rates) still comes from
the environment the benchmark sets, as in production.
"""

from smartbasket.settings import *  # noqa: F403 -- the benchmark measures the project's own configuration

ROOT_URLCONF = "bench.api_urls"
