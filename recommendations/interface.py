"""What the orders app calls on the recommendation side, and all it may import from it (a test checks).

- placing an order queues a refresh of the retailer's rows, with the order's transaction
  (`retailer_refresh_enqueue`);
- the basket page shows suggestions for the live basket (`active_version`, `basket_completion`) and records
  what was shown and added (`Event`, `Kind`, `Surface`, `events_record`, `event_record_tracked`);
- `demo_prepare` closes a training run that a stopped demo left running (`training_runs_orphaned_fail`);
- the import-run admin writes durations as the pipeline's pages do (`human_duration`).

Keeping orders to these names lets the recommendation modules be reorganised without touching orders. Nothing
here loads the ML core: the web process imports this module.
"""

from recommendations.feedback import Event, Kind, Surface, event_record_tracked, events_record
from recommendations.refresh import retailer_refresh_enqueue
from recommendations.reporting import human_duration
from recommendations.selectors import active_version, basket_completion
from recommendations.training_runs import training_runs_orphaned_fail

__all__ = [
    "Event",
    "Kind",
    "Surface",
    "active_version",
    "basket_completion",
    "event_record_tracked",
    "events_record",
    "human_duration",
    "retailer_refresh_enqueue",
    "training_runs_orphaned_fail",
]
