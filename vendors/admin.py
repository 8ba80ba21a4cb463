"""Staff tools for vendors and their analytics: vendors with counts, the forecast runs and their series
(read-only records of what the forecast task did), and where each vendor's figures stand, with actions that
queue a refresh. The rollup tables (SalesFact, RetailerDay, ProductPeriod) have no admin: they are derived
from placed orders and rebuilt whole by vendors.services, so an edit would be overwritten by the next refresh.
"""

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.admin import count_subquery
from accounts.models import User
from catalog.models import Product
from recommendations.reporting import human_duration
from vendors import services
from vendors.models import ForecastRun, ProductForecast, Vendor, VendorAnalytics

BACKTEST_COLUMNS = ["wape", "mase", "bias", "coverage@80", "coverage@95"]


def _refresh_message(count: int, *, forecasts: bool) -> str:
    what = "figures and forecasts" if forecasts else "figures"
    vendors = f"{count} vendor{'' if count == 1 else 's'}"
    duration = "minutes for a large catalogue" if forecasts else "seconds"
    return f"Queued a refresh of the {what} of {vendors}; a worker runs it (it takes {duration})."


class RefreshActions:
    """The two refresh actions, for admins whose rows belong to one vendor each (`vendor_field`)."""

    vendor_field = "pk"

    def _queue(self, request: HttpRequest, queryset: QuerySet, *, forecasts: bool) -> None:
        vendor_ids = sorted(set(queryset.values_list(self.vendor_field, flat=True)))
        services.vendors_refresh_enqueue(vendor_ids=vendor_ids, forecasts=forecasts)
        self.message_user(request, _refresh_message(len(vendor_ids), forecasts=forecasts), messages.SUCCESS)

    @admin.action(description="Refresh analytics now (sales figures)")
    def refresh_analytics(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._queue(request, queryset, forecasts=False)

    @admin.action(description="Refresh analytics and forecasts now")
    def refresh_analytics_and_forecasts(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._queue(request, queryset, forecasts=True)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by the services: the change form is a view."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(Vendor)
class VendorAdmin(RefreshActions, admin.ModelAdmin):
    list_display = ["name", "slug", "contact_email", "product_count", "member_count", "created_at"]
    search_fields = ["name", "slug", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "product_count", "member_count"]
    # Here too, because a vendor has no analytics row before its first refresh.
    actions = ["refresh_analytics", "refresh_analytics_and_forecasts"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Vendor]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                product_total=count_subquery(Product.objects.filter(vendor=OuterRef("pk")), "vendor"),
                member_total=count_subquery(User.objects.filter(vendor=OuterRef("pk")), "vendor"),
            )
        )

    @admin.display(description="products", ordering="product_total")
    def product_count(self, vendor: Vendor) -> int:
        return vendor.product_total

    @admin.display(description="members", ordering="member_total")
    def member_count(self, vendor: Vendor) -> int:
        return vendor.member_total


@admin.register(VendorAnalytics)
class VendorAnalyticsAdmin(RefreshActions, ReadOnlyAdmin):
    vendor_field = "vendor_id"
    list_display = ["vendor", "as_of", "rollups_refreshed_at", "live_run"]
    list_select_related = ["vendor", "forecast_run"]
    search_fields = ["vendor__name"]
    readonly_fields = ["vendor", "as_of", "rollups_refreshed_at", "live_run"]
    fields = readonly_fields
    actions = ["refresh_analytics", "refresh_analytics_and_forecasts"]

    @admin.display(description="live forecast run", ordering="forecast_run__started_at")
    def live_run(self, analytics: VendorAnalytics) -> SafeString | str:
        run = analytics.forecast_run
        if run is None:
            return "-"
        url = reverse("admin:vendors_forecastrun_change", args=[run.pk])
        started = timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M")
        return format_html('<a href="{}">#{} of {}</a>', url, run.pk, started)


@admin.register(ForecastRun)
class ForecastRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "vendor", "status", "started_at", "last_week", "series", "took"]
    list_filter = ["status", "vendor"]
    list_select_related = ["vendor"]
    date_hierarchy = "started_at"
    fields = [
        "vendor", "status", "started_at", "finished_at", "last_week", "horizon", "series", "took",
        "backtest_table", "error", "forecasts_link",
    ]  # fmt: skip
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="took", ordering="seconds")
    def took(self, run: ForecastRun) -> str:
        return human_duration(run.seconds)

    @admin.display(description="backtest (rolling origin)")
    def backtest_table(self, run: ForecastRun) -> SafeString | str:
        methods = {name: scores for name, scores in run.backtest.items() if name != "protocol"}
        if not methods:
            return "-"
        header = format_html_join("", "<th>{}</th>", ((column,) for column in ["method", *BACKTEST_COLUMNS]))
        rows = format_html_join(
            "",
            "<tr><td>{}</td>{}</tr>",
            (
                (
                    name,
                    format_html_join(
                        "", "<td>{}</td>", ((_score(scores.get(column)),) for column in BACKTEST_COLUMNS)
                    ),
                )
                for name, scores in sorted(methods.items())
            ),
        )
        protocol = run.backtest.get("protocol", {})
        caption = ", ".join(f"{key} {value}" for key, value in sorted(protocol.items()))
        return format_html("<table><caption>{}</caption><tr>{}</tr>{}</table>", caption, header, rows)

    @admin.display(description="series")
    def forecasts_link(self, run: ForecastRun) -> SafeString:
        url = reverse("admin:vendors_productforecast_changelist") + f"?run__id__exact={run.pk}"
        return format_html('<a href="{}">The {} forecast series of this run</a>', url, run.series)


def _score(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


@admin.register(ProductForecast)
class ProductForecastAdmin(ReadOnlyAdmin):
    list_display = [
        "series_name", "run", "method_label", "backtest_wape", "naive_wape", "naive_fallback",
        "horizon_units",
    ]  # fmt: skip
    list_filter = ["run__vendor", "method", "naive_fallback"]
    list_select_related = ["run__vendor", "product"]
    search_fields = ["product__name", "product__sku"]
    show_full_result_count = False
    fields = [
        "run", "product", "method", "method_label", "reason", "naive_fallback", "backtest_wape", "naive_wape",
        "backtest_windows", "candidates", "weeks", "horizon_units",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="series", ordering="product__name")
    def series_name(self, forecast: ProductForecast) -> str:
        return forecast.product.name if forecast.product else "Vendor total"
