"""Who may open what: every route of the URL configuration requested as each of six roles, against one table.

The tables below are the product's access policy, written down once per route. Routes are discovered from the
URL configuration itself (portal pages, htmx partials, the JSON API, the admin with every ModelAdmin and its
custom views), so a route added without an entry fails, and so does an entry whose route was removed.

Object routes are filled with objects of retailer A and vendor X: retailer B must get a 404, never learning
that the object exists; a member of the wrong kind of organisation gets 403 (the page exists, it is not
theirs); an anonymous visitor is sent to the login page (the admin's own login for the admin; a 401 from the
JSON API).

An expected answer is the status code, and for a redirect also the path it leads to ("302 /login/"). `{name}`
in an expected answer, a payload or a query string is an id of the world built below (`{order_a}`).

Each request runs in its own rolled-back transaction over one shared world, so no request sees what another
changed (a placed order, a logout), and nothing is ever queued, because nothing commits.
"""

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.mail.unsubscribe import unsubscribe_token
from accounts.tests.factories import EmailDeliveryFactory, RetailerFactory, UserFactory
from catalog.models import Product
from catalog.tests.factories import CategoryFactory, ProductFactory
from orders.tests.factories import ImportRunFactory, OrderFactory, OrderLineFactory
from recommendations.tests.factories import (
    ModelVersionFactory,
    ProductAssociationFactory,
    RecommendationEventFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
    TaskOutboxFactory,
    TrainingRunFactory,
)
from vendors.tests.factories import (
    ForecastRunFactory,
    ProductForecastFactory,
    VendorAnalyticsFactory,
    VendorFactory,
)

ANONYMOUS = "anonymous"
RETAILER_A = "retailer_a"
RETAILER_B = "retailer_b"
VENDOR_X = "vendor_x"
VENDOR_Y = "vendor_y"
STAFF = "staff"
ROLES = (ANONYMOUS, RETAILER_A, RETAILER_B, VENDOR_X, VENDOR_Y, STAFF)

Expected = dict[str, str]


def row(
    anonymous: str, retailer_a: str, retailer_b: str, vendor_x: str, vendor_y: str, staff: str
) -> Expected:
    return dict(zip(ROLES, (anonymous, retailer_a, retailer_b, vendor_x, vendor_y, staff), strict=True))


LOGIN = "302 /login/"
ADMIN_LOGIN = "302 /admin/login/"
TO_ROOT = "302 /"
TO_DASHBOARD = "302 /dashboard/"
TO_BASKET = "302 /basket/"
TO_VENDOR = "302 /vendor/"
TO_ADMIN = "302 /admin/"
TO_PRODUCT = "302 /catalogue/{product_x}/"
TO_NEW_ORDER = "302 /orders/{basket_a}/"
TO_VERSIONS = "302 /admin/recommendations/modelversion/"

# The answers, one row per kind of route.
# fmt: off
#                         anonymous     retailer A    retailer B    vendor X      vendor Y      staff
LANDING =             row(LOGIN,        TO_DASHBOARD, TO_DASHBOARD, TO_VENDOR,    TO_VENDOR,    TO_ADMIN)
LOGIN_PAGE =          row("200",        TO_ROOT,      TO_ROOT,      TO_ROOT,      TO_ROOT,      TO_ROOT)
MEMBER_PAGE =         row(LOGIN,        "200",        "200",        "200",        "200",        "200")
RETAILER_PAGE =       row(LOGIN,        "200",        "200",        "403",        "403",        "403")
# Retailer A's object: retailer B is told that it does not exist.
RETAILER_OBJECT =     row(LOGIN,        "200",        "404",        "403",        "403",        "403")
# An htmx action answers with the partial to swap in (placing an order: a client-side redirect, HX-Redirect).
HTMX_ACTION =         RETAILER_PAGE
HTMX_OBJECT_ACTION =  RETAILER_OBJECT
BASKET_ADD =          row(LOGIN,        TO_BASKET,    TO_BASKET,    "403",        "403",        "403")
BASKET_LINE_EDIT =    row(LOGIN,        TO_BASKET,    "404",        "403",        "403",        "403")
REORDER =             row(LOGIN,        TO_BASKET,    "404",        "403",        "403",        "403")
DUE_ADD =             row(LOGIN,        TO_DASHBOARD, "404",        "403",        "403",        "403")
PRODUCT_OPEN =        row(LOGIN,        TO_PRODUCT,   TO_PRODUCT,   "403",        "403",        "403")
# Retailer B's basket is empty: it is sent back to it with a message saying so.
PLACE =               row(LOGIN,        TO_NEW_ORDER, TO_BASKET,    "403",        "403",        "403")
VENDOR_PAGE =         row(LOGIN,        "403",        "403",        "200",        "200",        "403")
# Vendor X's product: vendor Y is told that it does not exist.
VENDOR_OBJECT =       row(LOGIN,        "403",        "403",        "200",        "404",        "403")
RETAILER_API =        row("401",        "200",        "200",        "403",        "403",        "403")
RETAILER_API_CREATED = row("401",       "201",        "201",        "403",        "403",        "403")
RETAILER_API_ACCEPTED = row("401",      "202",        "202",        "403",        "403",        "403")
RETAILER_API_POST_ONLY = row("401",     "405",        "405",        "403",        "403",        "403")
RETAILER_API_OBJECT = row("401",        "200",        "404",        "403",        "403",        "403")
RETAILER_API_OBJECT_POST_ONLY = row("401", "405",     "405",        "403",        "403",        "403")
# Every signed-in account has a profile: retailer and vendor members and staff alike.
MEMBER_API =          row("401",        "200",        "200",        "200",        "200",        "200")
MEMBER_API_POST_ONLY = row("401",       "405",        "405",        "405",        "405",        "405")
MEMBER_API_INVALID =  row("401",        "400",        "400",        "400",        "400",        "400")
# Who may call it is checked before the method, so only a retailer learns that GET is not allowed.
API_PLACE_GET =       row("401",        "405",        "405",        "403",        "403",        "403")
API_PLACE =           row("401",        "201",        "400",        "403",        "403",        "403")
ADMIN_LOGIN_PAGE =    row("200",        "200",        "200",        "200",        "200",        TO_ADMIN)
ADMIN_LOGOUT_GET =    row(TO_ADMIN,     TO_ADMIN,     TO_ADMIN,     TO_ADMIN,     TO_ADMIN,     "405")
ADMIN_LOGOUT =        row(TO_ADMIN,     TO_ADMIN,     TO_ADMIN,     TO_ADMIN,     TO_ADMIN,     LOGIN)
# fmt: on


def everyone(answer: str) -> Expected:
    return row(*[answer] * len(ROLES))


def staff_only(staff: str) -> Expected:
    """An admin page: everybody but staff is sent to the admin login, which says they may not enter."""
    return row(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, staff)


@dataclass(frozen=True)
class Probe:
    """One request of one route: `route` is its URL name, or its pattern when it has no name."""

    route: str
    expected: Expected
    method: str = "GET"
    # None: a plain request; "": an htmx request (HX-Request: true); otherwise also that HX-Target.
    htmx: str | None = None
    data: dict[str, object] = field(default_factory=dict)
    query: str = ""
    # URL keyword argument -> world key; the defaults are in URL_KWARGS.
    kwargs: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        variant = "" if self.htmx is None else f" htmx{'#' + self.htmx if self.htmx else ''}"
        return f"{self.method} {self.route}{variant}"


def get(route: str, expected: Expected, **options: object) -> Probe:
    return Probe(route, expected, "GET", **options)


def post(route: str, expected: Expected, **options: object) -> Probe:
    return Probe(route, expected, "POST", **options)


def put(route: str, expected: Expected, **options: object) -> Probe:
    return Probe(route, expected, "PUT", **options)


def patch(route: str, expected: Expected, **options: object) -> Probe:
    return Probe(route, expected, "PATCH", **options)


def delete(route: str, expected: Expected, **options: object) -> Probe:
    return Probe(route, expected, "DELETE", **options)


# Payloads: add one of vendor X's products; add retailer A's due item.
ADD_X = {"product": "{product_x}", "quantity": "1"}
DUE_A = {"prediction": "{prediction_a}"}

# A URL keyword argument is filled with this world object unless a probe says otherwise.
URL_KWARGS = {
    "product_id": "product_x",
    "order_id": "order_a",
    "line_id": "line_a",
    "id": "user_a",
    "token": "unsubscribe_a",
}

# fmt: off
PORTAL = [
    get("accounts:home",                    LANDING),
    get("accounts:login",                   LOGIN_PAGE),
    # Logging out is POST only, so a prefetch or a stray <img> cannot log anybody out.
    get("accounts:logout",                  everyone("405")),
    post("accounts:logout",                 everyone(LOGIN)),
    get("accounts:password_change",         MEMBER_PAGE),
    get("accounts:password_change_done",    MEMBER_PAGE),
    get("accounts:profile",                 MEMBER_PAGE),
    get("accounts:settings",                MEMBER_PAGE),

    get("catalog:list",                     RETAILER_PAGE),
    get("catalog:list",                     RETAILER_PAGE, htmx=""),
    # The catalogue is shared by every retailer: vendor X's product is no secret of retailer A's.
    get("catalog:detail",                   RETAILER_PAGE),
    get("catalog:detail",                   RETAILER_PAGE, htmx="product-purchases"),

    get("recommendations:dashboard",        RETAILER_PAGE),
    get("recommendations:dashboard",        RETAILER_PAGE, htmx="portal-summary"),
    get("recommendations:due_add",          everyone("405")),
    post("recommendations:due_add",         DUE_ADD, data=DUE_A),
    post("recommendations:due_add",         HTMX_OBJECT_ACTION, data=DUE_A, htmx="due"),
    get("recommendations:product_open",     PRODUCT_OPEN),
    get("recommendations:history",          RETAILER_PAGE),
    get("recommendations:history",          RETAILER_PAGE, htmx="history-rows"),

    get("orders:basket",                    RETAILER_PAGE),
    get("orders:basket",                    RETAILER_PAGE, htmx=""),
    get("orders:basket_add",                everyone("405")),
    post("orders:basket_add",               BASKET_ADD, data=ADD_X),
    post("orders:basket_add",               HTMX_ACTION, data=ADD_X, htmx=""),
    post("orders:basket_add",               HTMX_ACTION, data=ADD_X, htmx="basket"),
    get("orders:basket_line_update",        everyone("405")),
    post("orders:basket_line_update",       BASKET_LINE_EDIT, data={"quantity": "2"}),
    post("orders:basket_line_update",       HTMX_OBJECT_ACTION, data={"quantity": "2"}, htmx="basket"),
    get("orders:basket_line_remove",        everyone("405")),
    post("orders:basket_line_remove",       BASKET_LINE_EDIT),
    post("orders:basket_line_remove",       HTMX_OBJECT_ACTION, htmx="basket"),
    get("orders:basket_suggestions",        RETAILER_PAGE),
    get("orders:basket_suggestions",        RETAILER_PAGE, htmx=""),
    get("orders:place",                     RETAILER_PAGE),
    post("orders:place",                    PLACE),
    post("orders:place",                    HTMX_ACTION, htmx="basket"),
    get("orders:list",                      RETAILER_PAGE),
    get("orders:list",                      RETAILER_PAGE, htmx=""),
    get("orders:detail",                    RETAILER_OBJECT),
    get("orders:reorder",                   everyone("405")),
    post("orders:reorder",                  REORDER),

    get("vendors:home",                     VENDOR_PAGE),
    get("vendors:home",                     VENDOR_PAGE, htmx=""),
    get("vendors:overview_csv",             VENDOR_PAGE, kwargs={"table": "table_rising"}),
    get("vendors:demand",                   VENDOR_PAGE),
    get("vendors:demand",                   VENDOR_PAGE, htmx=""),
    get("vendors:demand_csv",               VENDOR_PAGE, kwargs={"table": "table_region"}),
    get("vendors:product",                  VENDOR_OBJECT),
    get("vendors:product",                  VENDOR_OBJECT, htmx="period-figures"),
    get("vendors:product_csv",              VENDOR_OBJECT, kwargs={"table": "table_weekly"}),
    get("vendors:forecasts",                VENDOR_PAGE),
    get("vendors:forecasts",                VENDOR_PAGE, htmx="forecast-rows"),
    get("vendors:forecasts_csv",            VENDOR_PAGE),
    get("vendors:forecasts_table_csv",      VENDOR_PAGE, kwargs={"table": "table_backtest"}),
    get("vendors:insights",                 VENDOR_PAGE),
    get("vendors:insights",                 VENDOR_PAGE, htmx="period-figures"),
    get("vendors:insights_csv",             VENDOR_PAGE, kwargs={"table": "table_prospects"}),

    # A mail's unsubscribe link: the signed token (retailer A's digest) is the authority, so everybody, signed
    # in or not, gets the same page; the POST is the one-click unsubscribe mail clients send.
    get("accounts:unsubscribe",        everyone("200")),
    post("accounts:unsubscribe",       everyone("200")),

    # Public, the same answer for everybody. The full report is "unavailable" here: no Celery worker runs, and
    # its checks use connections of their own, which cannot see this test's uncommitted active model version.
    get("health",                           everyone("503")),
    get("health_ready",                     everyone("200")),
]

# The JSON API, authenticated as mobile clients are: a JWT in the Authorization header.
API = [
    # Empty payloads: the token endpoints answer 400 without ever checking a password.
    get("api-v1-token",                     everyone("405")),
    post("api-v1-token",                    everyone("400")),
    get("api-v1-token-refresh",             everyone("405")),
    post("api-v1-token-refresh",            everyone("400")),
    get("api-v1-token-verify",              everyone("405")),
    post("api-v1-token-verify",             everyone("400")),
    get("api-v1-token-logout",              everyone("405")),
    post("api-v1-token-logout",             everyone("400")),
    get("api-v1-me",                        MEMBER_API),
    patch("api-v1-me",                      MEMBER_API, data={"first_name": "Sam"}),
    get("api-v1-password",                  MEMBER_API_POST_ONLY),
    post("api-v1-password",                 MEMBER_API_INVALID),
    get("api-v1-categories",                RETAILER_API),
    get("api-v1-vendors",                   RETAILER_API),
    get("api-v1-products",                  RETAILER_API),
    get("api-v1-product-detail",            RETAILER_API),
    get("api-v1-basket",                    RETAILER_API),
    delete("api-v1-basket",                 RETAILER_API),
    get("api-v1-basket-items",              RETAILER_API_POST_ONLY),
    post("api-v1-basket-items",             RETAILER_API_CREATED,
         data={"product_id": "{product_x}", "quantity": 2}),
    put("api-v1-basket-item",               RETAILER_API_OBJECT, data={"quantity": 2},
        kwargs={"product_id": "product_x2"}),
    delete("api-v1-basket-item",            RETAILER_API_OBJECT, kwargs={"product_id": "product_x2"}),
    get("api-v1-basket-place",              API_PLACE_GET),
    post("api-v1-basket-place",             API_PLACE),
    get("api-v1-orders",                    RETAILER_API),
    get("api-v1-order-detail",              RETAILER_API_OBJECT),
    get("api-v1-order-reorder",             RETAILER_API_OBJECT_POST_ONLY),
    post("api-v1-order-reorder",            RETAILER_API_OBJECT),
    get("api-v1-recommendations",           RETAILER_API),
    get("api-v1-due",                       RETAILER_API),
    post("api-v1-due-add",                  RETAILER_API),
    get("api-v1-predictions",               RETAILER_API),
    get("api-v1-next-item",                 RETAILER_API),
    post("api-v1-next-item",                RETAILER_API, data={"product_ids": ["{product_x}"]}),
    post("api-v1-next-item-unslashed",      RETAILER_API, data={"product_ids": ["{product_x}"]}),
    post("api-v1-feedback",                 RETAILER_API_ACCEPTED,
         data={"events": [{"kind": "impression", "product_id": "{product_x}", "surface": "for_you"}]}),
    # The documentation is public: it describes no data.
    get("api-v1-schema",                    everyone("200")),
    get("api-v1-docs",                      everyone("200")),
    get("api-v1-redoc",                     everyone("200")),
    get("api-v1-not-found",                 everyone("404")),
    # The first release's paths: a permanent redirect to their successor for everybody (it checks nothing).
    post("api-token",                       everyone("308 /api/v1/token/")),
    post("api-token-refresh",               everyone("308 /api/v1/token/refresh/")),
    get("api-products",                     everyone("308 /api/v1/products/")),
    get("api-product-related",              everyone("308 /api/v1/products/{product_x}/")),
    get("api-recommendations",              everyone("308 /api/v1/recommendations/")),
    get("api-basket",                       everyone("308 /api/v1/basket/")),
    post("api-basket",                      everyone("308 /api/v1/basket/items/")),
    post("api-basket-place",                everyone("308 /api/v1/basket/place/")),
    get("api-basket-suggestions",           everyone("308 /api/v1/predictions/next-item/")),
    get("api-orders",                       everyone("308 /api/v1/orders/")),
    get("api-order-detail",                 everyone("308 /api/v1/orders/{order_a}/")),
    get("api-not-found",                    everyone("404")),
]

ADMIN_SITE = [
    get("admin:index",                      staff_only("200")),
    get("admin:login",                      ADMIN_LOGIN_PAGE),
    get("admin:logout",                     ADMIN_LOGOUT_GET),
    post("admin:logout",                    ADMIN_LOGOUT),
    get("admin:password_change",            staff_only("200")),
    get("admin:password_change_done",       staff_only("200")),
    get("admin:autocomplete",               staff_only("200"),
        query="app_label=orders&model_name=order&field_name=retailer&term=Shop"),
    get("admin:jsi18n",                     staff_only("200")),
    # Products have no public page to view on site.
    get("admin:view_on_site",               staff_only("404"),
        kwargs={"content_type_id": "product_type", "object_id": "product_x"}),
    get("admin:app_list",                   staff_only("200"), kwargs={"app_label": "orders_app"}),
    get("admin/(?P<url>.*)$",               staff_only("404"), kwargs={"url": "missing_page"}),
    get("admin:auth_user_password_change",  staff_only("200")),
    get("admin:recommendations_retrain",    staff_only("405")),
    post("admin:recommendations_retrain",   staff_only(TO_VERSIONS)),
    get("admin:recommendations_rollback",   staff_only("405")),
    # With no earlier version to return to, staff are sent back with a message saying so.
    post("admin:recommendations_rollback",  staff_only(TO_VERSIONS)),
    get("admin:recommendations_preview",    staff_only("200"), query="retailer={retailer_a}"),
    # The live progress panel of a training run's page (htmx polls it while the run works).
    get("admin:recommendations_trainingrun_progress", staff_only("200"), kwargs={"run_id": "training_run"}),
    post("admin:recommendations_trainingrun_progress", staff_only("405"), kwargs={"run_id": "training_run"}),
]
# fmt: on


@dataclass(frozen=True)
class AdminModel:
    """What staff get from a ModelAdmin's standard pages, opened on the world object `obj`."""

    obj: str
    changelist: str = "200"
    add: str = "200"
    change: str = "200"
    delete: str = "200"
    history: str = "200"


# Audit trails and pipeline records cannot be added by hand; their change pages are read-only views (200).
ADMIN_MODELS = {
    "auth.group": AdminModel("group"),
    "django_celery_beat.periodictask": AdminModel("periodic_task"),
    "django_celery_beat.clockedschedule": AdminModel("clocked_schedule"),
    "django_celery_beat.crontabschedule": AdminModel("crontab_schedule"),
    "django_celery_beat.solarschedule": AdminModel("solar_schedule"),
    "django_celery_beat.intervalschedule": AdminModel("interval_schedule"),
    "axes.accessattempt": AdminModel("access_attempt", add="403"),
    "axes.accesslog": AdminModel("access_log", add="403"),
    "axes.accessfailurelog": AdminModel("access_failure_log", add="403"),
    "accounts.retailer": AdminModel("retailer_a"),
    "accounts.user": AdminModel("user_a"),
    "vendors.vendor": AdminModel("vendor_x"),
    # Written only by the analytics and forecast tasks: staff view them and queue refreshes.
    "vendors.vendoranalytics": AdminModel("vendor_analytics", add="403", delete="403"),
    "vendors.forecastrun": AdminModel("forecast_run", add="403", delete="403"),
    "vendors.productforecast": AdminModel("product_forecast", add="403", delete="403"),
    "catalog.category": AdminModel("category"),
    "catalog.product": AdminModel("product_x"),
    "orders.order": AdminModel("order_a"),
    "orders.orderline": AdminModel("line_a"),
    "orders.importrun": AdminModel("import_run", add="403"),
    "recommendations.recommendationevent": AdminModel("event_a", add="403"),
    # The active version cannot be deleted: every portal page reads its rows.
    "recommendations.modelversion": AdminModel("version", add="403", delete="403"),
    # Issued and revoked refresh tokens: written by sign-ins, rotations, logouts and password changes only.
    "token_blacklist.outstandingtoken": AdminModel("outstanding_token", add="403", delete="403"),
    "token_blacklist.blacklistedtoken": AdminModel("blacklisted_token"),
    "recommendations.trainingrun": AdminModel("training_run", add="403", delete="403"),
    "recommendations.taskoutbox": AdminModel("outbox_entry", add="403", delete="403"),
    # Written only by the mail tasks: what was sent to whom.
    "accounts.emaildelivery": AdminModel("email_delivery", add="403"),
}


def _admin_model_probes() -> list[Probe]:
    probes = []
    for label, model in ADMIN_MODELS.items():
        app_label, model_name = label.split(".")
        prefix = f"admin:{app_label}_{model_name}"
        on_object = {"object_id": model.obj}
        probes += [
            get(f"{prefix}_changelist", staff_only(model.changelist)),
            get(f"{prefix}_add", staff_only(model.add)),
            get(f"{prefix}_change", staff_only(model.change), kwargs=on_object),
            get(f"{prefix}_delete", staff_only(model.delete), kwargs=on_object),
            get(f"{prefix}_history", staff_only(model.history), kwargs=on_object),
            # The bare object URL is a redirect to its change page.
            get(
                f"admin/{app_label}/{model_name}/<path:object_id>/",
                staff_only(f"302 /admin/{app_label}/{model_name}/{{{model.obj}}}/change/"),
                kwargs=on_object,
            ),
        ]
    return probes


PROBES = [*PORTAL, *API, *ADMIN_SITE, *_admin_model_probes()]


@dataclass(frozen=True)
class Route:
    pattern: str
    named: bool


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, Route]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace and (f"{namespace}:{entry.namespace}" if namespace else entry.namespace)
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner or namespace)
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            if entry.name:
                yield (f"{namespace}:{entry.name}" if namespace else entry.name), Route(pattern, named=True)
            else:
                yield pattern, Route(pattern, named=False)


def discovered_routes() -> dict[str, Route]:
    """Every route of the URL configuration, by its URL name (or its pattern when it has none)."""
    return _routes_of(get_resolver())


@functools.cache
def _routes_of(resolver: URLResolver) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for key, route in _walk(resolver.url_patterns):
        # A second route under the same name could never be reversed, and would hide behind the first's entry.
        assert key not in routes, f"two routes share the name {key!r}: {routes[key]} and {route}"
        routes[key] = route
    return routes


def test_every_route_has_an_entry_in_the_table() -> None:
    tabled = {probe.route for probe in PROBES}
    missing = sorted(set(discovered_routes()) - tabled)
    assert not missing, (
        "routes without an entry in the role matrix (decide who may open them):\n" + "\n".join(missing)
    )


def test_every_entry_of_the_table_names_an_existing_route() -> None:
    stale = sorted({probe.route for probe in PROBES} - set(discovered_routes()))
    assert not stale, "role matrix entries for routes that no longer exist:\n" + "\n".join(stale)


def test_no_entry_is_given_twice_or_without_an_answer_for_each_role() -> None:
    labels = [probe.label for probe in PROBES]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    assert not repeated, f"entries given twice: {repeated}"
    incomplete = [probe.label for probe in PROBES if set(probe.expected) != set(ROLES)]
    assert not incomplete, f"entries without an answer for every role: {incomplete}"


@dataclass
class World:
    ids: dict[str, str]
    sessions: dict[str, str]
    tokens: dict[str, str]


def _build_world() -> World:
    now = timezone.now()
    vendor_x, vendor_y = VendorFactory(), VendorFactory()
    category = CategoryFactory()
    product_x = ProductFactory(vendor=vendor_x, category=category)
    product_x2 = ProductFactory(vendor=vendor_x, category=category)
    ProductFactory(vendor=vendor_y, category=category)
    retailer_a, retailer_b = RetailerFactory(name="Shop A"), RetailerFactory(name="Shop B")
    users = {
        RETAILER_A: UserFactory(retailer=retailer_a),
        RETAILER_B: UserFactory(retailer=retailer_b),
        VENDOR_X: UserFactory(vendor_member=True, vendor=vendor_x),
        VENDOR_Y: UserFactory(vendor_member=True, vendor=vendor_y),
        STAFF: UserFactory(staff_member=True),
    }
    order_a = OrderFactory(retailer=retailer_a, placed_at=now - timedelta(days=20))
    OrderLineFactory(order=order_a, product=product_x, quantity=3)
    OrderLineFactory(order=order_a, product=product_x2, quantity=1)
    basket_a = OrderFactory(retailer=retailer_a, basket=True)
    line_a = OrderLineFactory(order=basket_a, product=product_x2)
    version = ModelVersionFactory()
    RecommendationFactory(retailer=retailer_a, product=product_x2)
    prediction_a = ReorderPredictionFactory(retailer=retailer_a, product=product_x)
    ProductAssociationFactory(product=product_x, other=product_x2)
    event_a = RecommendationEventFactory(retailer=retailer_a, product=product_x)
    forecast_run = ForecastRunFactory(vendor=vendor_x)
    # Both vendors' figures have been refreshed once (vendor Y's are empty), so their downloads exist.
    VendorAnalyticsFactory(vendor=vendor_y)
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    attempt = {
        "username": "someone-else",
        "ip_address": "203.0.113.9",
        "user_agent": "route matrix",
        "http_accept": "*/*",
        "path_info": "/login/",
    }
    ids = {
        "vendor_x": vendor_x.pk,
        "category": category.pk,
        "product_x": product_x.pk,
        "product_x2": product_x2.pk,
        "retailer_a": retailer_a.pk,
        "user_a": users[RETAILER_A].pk,
        "order_a": order_a.pk,
        "basket_a": basket_a.pk,
        "line_a": line_a.pk,
        "version": version.pk,
        "prediction_a": prediction_a.pk,
        "event_a": event_a.pk,
        "training_run": TrainingRunFactory(model_version=version).pk,
        "outbox_entry": TaskOutboxFactory(args=[retailer_a.pk]).pk,
        "import_run": ImportRunFactory(vendor=vendor_x).pk,
        "email_delivery": EmailDeliveryFactory(user=users[RETAILER_A]).pk,
        "unsubscribe_a": unsubscribe_token(user_id=users[RETAILER_A].pk, kind="reorder_digest"),
        "forecast_run": forecast_run.pk,
        "product_forecast": ProductForecastFactory(run=forecast_run, product=product_x).pk,
        "vendor_analytics": VendorAnalyticsFactory(vendor=vendor_x, forecast_run=forecast_run).pk,
        "group": Group.objects.create(name="Buyers").pk,
        "interval_schedule": interval.pk,
        "crontab_schedule": CrontabSchedule.objects.create(minute="0", hour="3").pk,
        "solar_schedule": SolarSchedule.objects.create(event="sunrise", latitude=53.8, longitude=-1.55).pk,
        "clocked_schedule": ClockedSchedule.objects.create(clocked_time=now + timedelta(days=1)).pk,
        "periodic_task": PeriodicTask.objects.create(
            name="route matrix", task="recommendations.tasks.refresh_all", interval=interval
        ).pk,
        "access_attempt": AccessAttempt.objects.create(
            **attempt, get_data="", post_data="", failures_since_start=1
        ).pk,
        "access_log": AccessLog.objects.create(**attempt).pk,
        "access_failure_log": AccessFailureLog.objects.create(**attempt).pk,
        "product_type": ContentType.objects.get_for_model(Product).pk,
        "orders_app": "orders",
        "missing_page": "no-such-page/",
        "table_weekly": "weekly",
        "table_rising": "rising",
        "table_region": "region",
        "table_backtest": "backtest",
        "table_prospects": "prospects",
    }
    sessions = {}
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    tokens = {role: str(RefreshToken.for_user(user).access_token) for role, user in users.items()}
    revoked = RefreshToken.for_user(users[RETAILER_A])
    revoked.blacklist()
    ids["outstanding_token"] = OutstandingToken.objects.get(jti=revoked["jti"]).pk
    ids["blacklisted_token"] = BlacklistedToken.objects.get(token__jti=revoked["jti"]).pk
    return World({name: str(value) for name, value in ids.items()}, sessions, tokens)


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: object) -> Iterator[World]:
    # One world for the module, rolled back at its end; each test's own transaction (the `db` fixture) rolls
    # back what its request changed, so every request sees the world as built.
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


def _fill(pattern: str, values: dict[str, str]) -> str:
    """The path of an unnamed route: its converters or named groups replaced by the values."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda match: values[match[1]], pattern)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda match: values[match[1]], path)
    return "/" + path.replace("^", "").replace("$", "")


def _path(probe: Probe, world: World) -> str:
    route = discovered_routes()[probe.route]
    names = {
        converter or group for converter, group in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route.pattern)
    }
    values = {name: world.ids[probe.kwargs.get(name) or URL_KWARGS[name]] for name in names}
    path = reverse(probe.route, kwargs=values) if route.named else _fill(route.pattern, values)
    return f"{path}?{probe.query.format(**world.ids)}" if probe.query else path


def _request(probe: Probe, role: str, world: World) -> HttpResponse:
    client = Client()
    path = _path(probe, world)
    headers = {}
    is_api = path.startswith("/api/")
    if role != ANONYMOUS:
        if is_api:
            headers["Authorization"] = f"Bearer {world.tokens[role]}"
        else:
            client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    if probe.htmx is not None:
        headers["HX-Request"] = "true"
        if probe.htmx:
            headers["HX-Target"] = probe.htmx
    data = _filled(probe.data, world.ids)
    if probe.method == "GET":
        return client.get(path, headers=headers)
    if is_api:
        return client.generic(
            probe.method, path, json.dumps(data), content_type="application/json", headers=headers
        )
    return client.post(path, data, headers=headers)


def _filled(value: object, ids: dict[str, str]) -> object:
    """A payload with its `{name}` strings replaced; a whole-string placeholder of an id becomes a number."""
    if isinstance(value, dict):
        return {key: _filled(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, ids) for item in value]
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if value.startswith("{") and filled.isdigit() else filled
    return value


def _answer(response: HttpResponse) -> str:
    if 300 <= response.status_code < 400:
        return f"{response.status_code} {urlsplit(response['Location']).path}"
    return str(response.status_code)


def _cases() -> list[object]:
    cases = []
    for probe in PROBES:
        for role in ROLES:
            cases.append(pytest.param(probe, role, id=f"{probe.label} as {role}"))
    return cases


@pytest.mark.parametrize(("probe", "role"), _cases())
def test_each_role_gets_the_answer_the_table_gives(world: World, db: None, probe: Probe, role: str) -> None:
    expected = probe.expected[role].format(**world.ids)
    answer = _answer(_request(probe, role, world))
    assert answer == expected, f"{probe.label} as {role}: expected {expected}, got {answer}"
