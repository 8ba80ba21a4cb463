"""Staff tools for the pipeline: versions with metrics side by side, training runs, retrain / activate /
roll back, and a preview of what one retailer is shown. Feedback rates live in admin_feedback.py."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Retailer
from recommendations import (
    admin_feedback,  # noqa: F401  (registers RecommendationEvent)
    admin_outbox,  # noqa: F401  (registers TaskOutbox)
    dashboard,
    selectors,
    services,
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


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    change_list_template = "recommendations/admin/modelversion_change_list.html"
    list_display = [
        "__str__",
        "status",
        "data_cutoff",
        "activated_at",
        *[_metric_column(name) for name in COMPARED_METRICS],
        "training_seconds",
        "precompute_seconds",
        "rows",
        "decision",
    ]
    list_filter = ["status", "kind"]
    actions = ["activate_selected", "delete_selected"]
    # Read-only: state changes go through the actions and buttons, which call the services.
    readonly_fields = [field.name for field in ModelVersion._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        # Versions are records of what the pipeline did: the change form is a view only.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        if obj is not None and obj.status not in services.DELETABLE_STATUSES:
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(
        permissions=["delete"], description="Delete the selected versions (failed, retired, candidate)"
    )
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        refusal = services.model_versions_deletion_refusal(versions=queryset)
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
        refusal = services.model_versions_deletion_refusal(versions=versions)
        return summary, counts, set(), [refusal] if refusal else []

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        services.model_versions_delete(version_ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        services.model_versions_delete(version_ids=list(queryset.values_list("pk", flat=True)))

    @admin.display(description="rows")
    def rows(self, version: ModelVersion) -> str:
        return "pruned" if version.pruned_at else f"{sum(version.row_counts.values()):,}"

    @admin.action(description="Activate the selected version (one)")
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = services.model_version_activate(version=queryset.get())
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
        run = services.retrain_enqueue(trigger=TrainingRun.Trigger.MANUAL)
        self.message_user(request, f"Training run #{run.pk} queued; see Training runs for its progress.")
        return self._back()

    def rollback_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._rollback)(request)

    def _rollback(self, request: HttpRequest) -> HttpResponse:
        try:
            version = services.model_version_rollback()
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
    list_display = ["__str__", "status", "trigger", "model_version", "started_at", "duration", "short_error"]
    list_filter = ["status", "trigger"]
    list_select_related = ["model_version"]
    readonly_fields = [field.name for field in TrainingRun._meta.fields]

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
