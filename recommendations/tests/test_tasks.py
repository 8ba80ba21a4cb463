import inspect
import json

from django_celery_beat.models import PeriodicTask

from smartbasket.celery import app


def test_the_beat_schedule_holds_only_registered_tasks_with_arguments_they_accept(
    beat_schedule: dict[str, PeriodicTask],
) -> None:
    app.loader.import_default_modules()

    assert set(beat_schedule) == {
        "recommendations.tasks.retrain_scheduled",
        "recommendations.tasks.refresh_recent_retailers",
        "recommendations.tasks.deliver_outbox",
        "recommendations.tasks.flush_feedback",
    }
    for entry in beat_schedule.values():
        task = app.tasks[entry.task]
        inspect.signature(task.run).bind(*json.loads(entry.args), **json.loads(entry.kwargs))
        assert entry.queue == "recommendations"
