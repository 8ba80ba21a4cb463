"""Staff view of recommendation feedback: click-through and add-to-basket rates per model version and surface.

The changelist of RecommendationEvent shows the rates of whatever the filters select (a date range, one
surface, one version) above the raw events, so comparing two versions is a matter of filtering. Imported by
admin.py.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from recommendations.feedback import feedback_rates
from recommendations.models import RecommendationEvent


@admin.register(RecommendationEvent)
class RecommendationEventAdmin(admin.ModelAdmin):
    change_list_template = "recommendations/admin/feedback_change_list.html"
    list_display = ["created_at", "kind", "surface", "model_version", "retailer", "product"]
    list_filter = ["kind", "surface", "model_version", "created_at"]
    list_select_related = ["model_version", "retailer", "product"]
    date_hierarchy = "created_at"
    # Events are facts recorded by the portal; staff read them, nobody edits them.
    readonly_fields = ["created_at", "kind", "surface", "model_version", "retailer", "product"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RecommendationEvent | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context=extra_context)
        # A redirect (bad filter) or an error page has no changelist to summarise.
        if isinstance(response, TemplateResponse) and "cl" in response.context_data:
            changelist = response.context_data["cl"]
            response.context_data["feedback_rates"] = feedback_rates(events=changelist.queryset)
        return response
