import logging
import os

from celery import Celery, signals

from smartbasket.env import is_celery_command, load_env_file
from smartbasket.request_log import NO_REQUEST_ID, RequestIdFilter, request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
# The `celery` command reads `.env` as manage.py does; pytest and Django import this package too and must not.
if is_celery_command():
    load_env_file()

app = Celery("smartbasket")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logger = logging.getLogger(__name__)


# The id of the request that queued a task travels as a message header (set by the task outbox, or here
# from the current request for any other publish) and is restored around the task, so the worker's log lines
# for that task show it.
@signals.before_task_publish.connect
def _send_request_id(headers: dict | None = None, **_: object) -> None:
    if headers is not None and not headers.get("request_id"):
        headers["request_id"] = request_id_var.get()


@signals.task_prerun.connect
def _restore_request_id(task: object = None, **_: object) -> None:
    request = getattr(task, "request", None)
    request_id_var.set(getattr(request, "request_id", None) or NO_REQUEST_ID)


@signals.task_postrun.connect
def _forget_request_id(**_: object) -> None:
    request_id_var.set(NO_REQUEST_ID)


# A task queued through the task outbox (recommendations.outbox) is done only once it has run: these mark
# its row completed by task id, on success or on a failure for good (after its retries: a retrying task
# sends task_retry, not task_failure; a task requeued because its worker was lost sends neither). Any task
# reports; one without an outbox row matches nothing.
@signals.task_success.connect
def _outbox_succeeded(sender: object = None, **_: object) -> None:
    request = getattr(sender, "request", None)
    _outbox_complete(getattr(request, "id", None), error="")


@signals.task_failure.connect
def _outbox_failed(task_id: str | None = None, exception: BaseException | None = None, **_: object) -> None:
    _outbox_complete(task_id, error=f"{type(exception).__name__}: {exception}")


def _outbox_complete(task_id: str | None, *, error: str) -> None:
    if not task_id:
        return
    from django.db import DatabaseError, connection

    from recommendations.outbox import task_outbox_complete

    for attempt in (1, 2):
        try:
            task_outbox_complete(celery_task_id=task_id, error=error)
            return
        except DatabaseError as exc:
            if attempt == 2 or connection.in_atomic_block:
                # Never fail the task for its bookkeeping: the outbox publishes it again after its delay.
                logger.warning("Could not record the completion of task %s in the outbox: %s", task_id, exc)
                return
            # The task may have failed on a broken connection (its server restarted): reconnect once.
            connection.close()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _log_request_ids(logger: object = None, **_: object) -> None:
    # The worker installs its own handlers; each gets the filter that fills `%(request_id)s` in the formats.
    for handler in getattr(logger, "handlers", []):
        handler.addFilter(RequestIdFilter())
