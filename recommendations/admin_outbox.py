"""Staff view of the task outbox: what was queued, whether a worker has run it, what still waits for Redis or
a worker and why. Read-only: rows are written by the services, completed by the workers' task signals and
published, given up or pruned by the `deliver_outbox` task. Imported by admin.py."""

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from recommendations.models import TaskOutbox

State = TaskOutbox.State
_OPEN = Q(completed_at__isnull=True, gave_up_at__isnull=True)
STATE_FILTERS: dict[str, Q] = {
    State.PENDING: _OPEN & Q(delivered_at__isnull=True),
    State.PUBLISHED: _OPEN & Q(delivered_at__isnull=False),
    State.SUCCEEDED: Q(completed_at__isnull=False, task_error=""),
    State.FAILED: Q(completed_at__isnull=False) & ~Q(task_error=""),
    State.GIVEN_UP: Q(completed_at__isnull=True, gave_up_at__isnull=False),
}


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(state.value, state.label) for state in State]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TaskOutbox]) -> QuerySet[TaskOutbox]:
        condition = STATE_FILTERS.get(self.value() or "")
        return queryset.filter(condition) if condition is not None else queryset


@admin.register(TaskOutbox)
class TaskOutboxAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "task_name", "args", "state", "publishes", "attempts", "completed_at", "last_error",
        "task_error", "request_id",
    ]  # fmt: skip
    list_filter = [StateFilter, "task_name"]
    search_fields = ["request_id", "celery_task_id"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in TaskOutbox._meta.fields]
    show_full_result_count = False

    @admin.display(description="state")
    def state(self, entry: TaskOutbox) -> str:
        return entry.state.label

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: TaskOutbox | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TaskOutbox | None = None) -> bool:
        return False
