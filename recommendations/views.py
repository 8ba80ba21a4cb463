from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from accounts.decorators import retailer_required
from accounts.models import Retailer
from accounts.selectors import user_page_size
from catalog.models import Product
from recommendations import dashboard as dashboard_reads
from recommendations import selectors
from recommendations.feedback import (
    TAKEN_WITHIN_DAYS,
    Kind,
    event_record_tracked,
    events_record,
    prediction_history_page,
    tracking_from_data,
)
from recommendations.models import ReorderPrediction
from recommendations.portal_services import due_items_add

DASHBOARD_TEMPLATE = "recommendations/dashboard.html"
HISTORY_TEMPLATE = "recommendations/history.html"
SUMMARY_ID = "portal-summary"
TRAINING_ID = "portal-training"
HISTORY_ROWS_ID = "history-rows"


def _get_due_predictions_for_retailer(
    *, retailer: Retailer, prediction_ids: list[str]
) -> list[ReorderPrediction]:
    """The posted reorder predictions, all of which must be this retailer's rows of the active version.

    A foreign or stale id is a 404 for the whole request, so nothing is added from a list the retailer was not
    shown.
    """
    if not prediction_ids or not all(raw.isdigit() for raw in prediction_ids):
        raise Http404("No such reorder suggestion")
    version = selectors.active_version()
    if version is None:
        raise Http404("No such reorder suggestion")
    wanted = {int(raw) for raw in prediction_ids}
    predictions = list(
        ReorderPrediction.objects.filter(pk__in=wanted, retailer=retailer, model_version=version)
        .select_related("product")
        .order_by("expected_date", "product_id")
    )
    if len(predictions) != len(wanted):
        raise Http404("No such reorder suggestion")
    return predictions


def _dashboard_context(board: dashboard_reads.Dashboard) -> dict[str, Any]:
    return {"board": board, "version": board.version, "summary": board.summary}


@require_GET
@retailer_required
def dashboard(request: HttpRequest) -> HttpResponse:
    retailer = request.user.retailer
    if request.htmx and request.htmx.target == SUMMARY_ID:
        # The summary refreshes itself after a basket change made from one of the cards.
        summary = dashboard_reads.retailer_summary(retailer=retailer)
        return render(request, f"{DASHBOARD_TEMPLATE}#summary", {"summary": summary})
    if request.htmx and request.htmx.target == TRAINING_ID:
        # The training notice polls while the first model trains; once a version is active the whole page
        # is reloaded, so the cold-start lists give way to the model's without a restart or a manual reload.
        if selectors.active_version() is not None:
            return HttpResponseClientRefresh()
        cold = dashboard_reads.ColdStart(
            region=[], segment=[], new_arrivals=[], run=selectors.latest_training_run()
        )
        return render(request, "recommendations/_cold_start.html#training", {"cold": cold})
    board = dashboard_reads.dashboard_for(retailer=retailer)
    # One INSERT for everything shown on the page.
    events_record(retailer=retailer, events=board.impressions())
    return render(request, DASHBOARD_TEMPLATE, _dashboard_context(board))


@require_POST
@retailer_required
def due_add(request: HttpRequest) -> HttpResponse:
    """Put every due item the retailer was shown into the basket at its suggested quantity."""
    retailer = request.user.retailer
    predictions = _get_due_predictions_for_retailer(
        retailer=retailer, prediction_ids=request.POST.getlist("prediction")
    )
    result = due_items_add(retailer=retailer, predictions=predictions)
    if result.added:
        count = len(result.added)
        messages.success(request, f"Added {count} due item{'s' if count != 1 else ''} to your basket.")
    elif result.already_in_basket and not result.problems:
        messages.info(request, "Everything due is already in your basket.")
    for problem in result.problems:
        messages.warning(request, problem)
    if not request.htmx:
        return redirect("recommendations:dashboard")
    board = dashboard_reads.dashboard_for(retailer=retailer)
    context = {**_dashboard_context(board), "oob": True}
    # The due panel is the target; the summary, the messages and the navigation's basket count are swapped
    # out of band.
    return HttpResponse(
        render_to_string(f"{DASHBOARD_TEMPLATE}#due", context, request=request)
        + render_to_string(f"{DASHBOARD_TEMPLATE}#summary", context, request=request)
        + render_to_string(f"{DASHBOARD_TEMPLATE}#flash", context, request=request)
        + render_to_string(
            "orders/nav_basket.html",
            {"basket_line_count": board.summary.basket.line_count, "oob": True},
            request=request,
        )
    )


@require_GET
@retailer_required
def product_open(request: HttpRequest, product_id: int) -> HttpResponseRedirect:
    """A recommended product's link: count the click, then show the product page.

    The tracking fields travel on to the product page so that an add from there is credited to the same
    surface.
    """
    product = get_object_or_404(Product, pk=product_id)
    event_record_tracked(retailer=request.user.retailer, product=product, kind=Kind.CLICK, data=request.GET)
    url = reverse("catalog:detail", args=[product.pk])
    tracking = tracking_from_data(request.GET)
    if tracking is not None:
        params = {"src": tracking.surface}
        if tracking.model_version_id is not None:
            params["mv"] = tracking.model_version_id
        url = f"{url}?{urlencode(params)}"
    return HttpResponseRedirect(url)


@require_GET
@retailer_required
def history(request: HttpRequest) -> HttpResponse:
    page = prediction_history_page(
        retailer=request.user.retailer,
        page_number=request.GET.get("page"),
        per_page=user_page_size(user=request.user),
    )
    context = {"page": page, "taken_within_days": TAKEN_WITHIN_DAYS}
    partial = request.htmx and request.htmx.target == HISTORY_ROWS_ID
    template = f"{HISTORY_TEMPLATE}#rows" if partial else HISTORY_TEMPLATE
    return render(request, template, context)
