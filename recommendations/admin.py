"""Staff tools for the pipeline: versions with metrics side by side, training runs (with their progress live
while they run), retrain / activate / roll back, and a preview of what one retailer is shown. Feedback rates
live in admin_feedback.py."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Retailer
from recommendations import (
    admin_feedback,  # noqa: F401  (registers RecommendationEvent)
    admin_outbox,  # noqa: F401  (registers TaskOutbox)
    dashboard,
    publish,
    reporting,
    selectors,
    training_runs,
)
from recommendations.models import ModelVersion, Surface, TrainingRun

# Metrics shown as columns, so versions compare side by side in the changelist.
COMPARED_METRICS = ["ndcg@10", "recall@10", "hit@10", "completion_hit@10", "coverage@10"]


def _metric_column(name: str) -> Any:
    def column(version: ModelVersion) -> str:
        value = version.metrics.get("hybrid", {}).get(name)
        return "-" if value is None else f"{value:.4f}"

    column.short_description = name
    return column


def _champion_id(version: ModelVersion) -> int | None:
    """The version this one was held against when it was decided on: the active version at that moment."""
    return version.metrics.get("comparison", {}).get("champion")


def _version_link(version_id: int) -> SafeString:
    url = reverse("admin:recommendations_modelversion_change", args=[version_id])
    return format_html('<a href="{}">v{}</a>', url, version_id)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    change_list_template = "recommendations/admin/modelversion_change_list.html"
    list_display = [
        "__str__",
        "status",
        "data_cutoff",
        "activated_at",
        *[_metric_column(name) for name in COMPARED_METRICS],
        "champion",
        "training_time",
        "precompute_time",
        "rows",
        "decision",
    ]
    list_filter = ["status", "kind"]
    actions = ["activate_selected", "delete_selected"]
    # Read-only: state changes go through the actions and buttons, which call the services. Metrics and
    # durations are shown formatted (a table, minutes and seconds) instead of their raw stored values.
    fields = [
        "kind",
        "status",
        "decision",
        "champion",
        "metrics_table",
        "data_cutoff",
        "trained_on_counts",
        "training_time",
        "precompute_time",
        "rows_written",
        "parameters",
        "artifact_path",
        "artifact_sha256",
        "error",
        "created_at",
        "activated_at",
        "pruned_at",
    ]
    readonly_fields = fields

    @admin.display(description="champion")
    def champion(self, version: ModelVersion) -> str:
        champion_id = _champion_id(version)
        return "-" if champion_id is None else _version_link(champion_id)

    @admin.display(description="trained on")
    def trained_on_counts(self, version: ModelVersion) -> str:
        return reporting.counts_text(version.trained_on) or "-"

    @admin.display(description="rows written")
    def rows_written(self, version: ModelVersion) -> str:
        return reporting.counts_text(version.row_counts) or "-"

    @admin.display(description="training time", ordering="training_seconds")
    def training_time(self, version: ModelVersion) -> str:
        return reporting.human_duration(version.training_seconds)

    @admin.display(description="precompute time", ordering="precompute_seconds")
    def precompute_time(self, version: ModelVersion) -> str:
        return reporting.human_duration(version.precompute_seconds)

    @admin.display(description="metrics (held-out baskets)")
    def metrics_table(self, version: ModelVersion) -> str:
        champion_id = _champion_id(version)
        champion = ModelVersion.objects.filter(pk=champion_id).first() if champion_id else None
        extra = {f"v{champion.pk} hybrid (champion)": champion.metrics.get("hybrid", {})} if champion else {}
        table = reporting.metrics_table(version.metrics, extra_rows=extra)
        if not table.rows:
            return "-"
        return render_to_string(
            "recommendations/admin/_metrics_table.html",
            {
                "table": table,
                "comparison": version.metrics.get("comparison", {}),
                # Heaviest first (the database does not keep a JSON object's key order).
                "weights": sorted(
                    version.metrics.get("blend", {}).get("weights", {}).items(), key=lambda item: -item[1]
                ),
                # What the live basket completion of this version ranks by (chosen on its own cases).
                "completion_weights": sorted(
                    version.parameters.get("completion", {}).get("weights", {}).items(),
                    key=lambda item: -item[1],
                ),
            },
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        # Versions are records of what the pipeline did: the change form is a view only.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        if obj is not None and obj.status not in publish.DELETABLE_STATUSES:
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(
        permissions=["delete"], description="Delete the selected versions (failed, retired, candidate)"
    )
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        refusal = publish.model_versions_deletion_refusal(versions=queryset)
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
            return None
        return admin_actions.delete_selected(self, request, queryset)

    def get_deleted_objects(
        self, objs: QuerySet[ModelVersion] | list[ModelVersion], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        """A summary of what goes, not Django's list of every cascaded row (many thousands a version)."""
        versions = list(objs)
        rows = {
            version.pk: 0 if version.pruned_at else sum(version.row_counts.values()) for version in versions
        }
        summary = [
            f"{version}: {rows[version.pk]:,} precomputed row{'' if rows[version.pk] == 1 else 's'} "
            "and its artifact files "
            "(its training runs and feedback events are kept, without the version)"
            for version in versions
        ]
        counts = {"model versions": len(versions), "precomputed rows": sum(rows.values())}
        refusal = publish.model_versions_deletion_refusal(versions=versions)
        return summary, counts, set(), [refusal] if refusal else []

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        publish.model_versions_delete(version_ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        publish.model_versions_delete(version_ids=list(queryset.values_list("pk", flat=True)))

    @admin.display(description="rows")
    def rows(self, version: ModelVersion) -> str:
        return "pruned" if version.pruned_at else f"{sum(version.row_counts.values()):,}"

    @admin.action(description="Activate the selected version (one)")
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = publish.model_version_activate(version=queryset.get())
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(request, f"v{version.pk} is now active.", messages.SUCCESS)

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("retrain/", wrap(self.retrain_view), name="recommendations_retrain"),
            path("rollback/", wrap(self.rollback_view), name="recommendations_rollback"),
            path("preview/", wrap(self.preview_view), name="recommendations_preview"),
            *super().get_urls(),
        ]

    def _back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:recommendations_modelversion_changelist"))

    def retrain_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._retrain)(request)

    def _retrain(self, request: HttpRequest) -> HttpResponse:
        # Never trains here: queued for a worker, or (no broker) started in a process of its own on commit.
        run = training_runs.retrain_enqueue(trigger=TrainingRun.Trigger.MANUAL)
        url = reverse("admin:recommendations_trainingrun_change", args=[run.pk])
        where = "queued for a worker" if run.celery_task_id else "started in a separate process"
        message = 'Training run <a href="{}">#{}</a> {}: its page shows its progress.'
        self.message_user(request, format_html(message, url, run.pk, where))
        return self._back()

    def rollback_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._rollback)(request)

    def _rollback(self, request: HttpRequest) -> HttpResponse:
        try:
            version = publish.model_version_rollback()
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(request, f"Rolled back: v{version.pk} is active again.", messages.SUCCESS)
        return self._back()

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """What one retailer is shown by a version (the active one unless another is chosen)."""
        retailer = None
        version = selectors.active_version()
        if request.GET.get("version"):
            version = get_object_or_404(ModelVersion, pk=request.GET["version"])
        if request.GET.get("retailer"):
            retailer = get_object_or_404(Retailer, pk=request.GET["retailer"])
        context = {
            **self.admin_site.each_context(request),
            "title": "Preview recommendations",
            "opts": self.model._meta,
            "version": version,
            "versions": ModelVersion.objects.filter(pruned_at__isnull=True).exclude(status="failed"),
            "retailer": retailer,
            "retailers": Retailer.objects.order_by("name").only("id", "name")[:500],
        }
        if retailer and version:
            # As the retailer's dashboard shows them, sentences counted to today.
            today = timezone.localdate()
            lists = dashboard.lists_from_rows(
                version=version,
                for_you=selectors.recommendations_for(
                    retailer=retailer, surface=Surface.FOR_YOU, limit=20, version=version
                ),
                new_for_you=selectors.recommendations_for(
                    retailer=retailer, surface=Surface.NEW_FOR_YOU, limit=40, version=version
                ),
                due=selectors.reorders_due_for(retailer=retailer, limit=20, version=version),
                new_for_you_limit=20,
                today=today,
            )
            context["for_you"] = lists.for_you
            context["new_for_you"] = lists.new_for_you
            context["due"] = [dashboard.due_item(row, basket_quantity=0, today=today) for row in lists.due]
        return TemplateResponse(request, "recommendations/admin/preview.html", context)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    change_form_template = "recommendations/admin/trainingrun_change_form.html"
    list_display = [
        "__str__",
        "status",
        "trigger",
        "model_version",
        "started_at",
        "progress",
        "duration_human",
        "short_error",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["model_version"]
    # The stage fields are drawn by the progress panel above the fields (polled while the run works).
    fields = [
        "status",
        "trigger",
        "model_version",
        "parameters",
        "created_at",
        "started_at",
        "finished_at",
        "duration_human",
        "log",
        "error",
        "celery_task_id",
    ]
    readonly_fields = fields

    def get_urls(self) -> list:
        return [
            path(
                "<int:run_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="recommendations_trainingrun_progress",
            ),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        return require_GET(self._progress)(request, run_id)

    def _progress(self, request: HttpRequest, run_id: int) -> HttpResponse:
        """The progress panel alone: htmx asks for it every 2 s until the run has ended."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(TrainingRun.objects.select_related("model_version"), pk=run_id)
        return TemplateResponse(
            request, "recommendations/admin/trainingrun_change_form.html#progress", {"run": run}
        )

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any):
        context["run"] = context.get("original")
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description="duration", ordering="duration")
    def duration_human(self, run: TrainingRun) -> str:
        return reporting.human_duration(run.duration)

    @admin.display(description="progress")
    def progress(self, run: TrainingRun) -> str:
        if not run.stage:
            return "-"
        return f"{run.stage}: {run.stage_step} of {run.stage_steps} ({run.stage_percent}%)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Runs are the log of what the pipeline did; runs are started by the Retrain button, not edited.
    def has_change_permission(self, request: HttpRequest, obj: TrainingRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TrainingRun | None = None) -> bool:
        return False

    @admin.display(description="error")
    def short_error(self, run: TrainingRun) -> str:
        return run.error[:120]
