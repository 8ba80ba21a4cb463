"""Every kind of page, portal and admin, under the real Content-Security-Policy in Chromium: nothing blocked.

The policy forbids inline scripts and styles, so a template that slips one in shows up here as a
`securitypolicyviolation` event or a console error, which a header test alone could never see.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.tests.factories import (
    ModelVersionFactory,
    ProductAssociationFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
)
from vendors.tests.factories import VendorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 15_000
# Runs in every page before its own scripts (Playwright injects it outside the page's policy).
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(
    event.violatedDirective + " blocked " + (event.blockedURI || "inline") + " at " +
    event.sourceFile + ":" + event.lineNumber + " " + (event.sample || "")
  );
});
"""


@pytest.fixture
def portal_world() -> dict[str, object]:
    vendor = VendorFactory()
    retailer_user = UserFactory()
    retailer = retailer_user.retailer
    products = [ProductFactory(vendor=vendor) for _ in range(4)]
    version = ModelVersionFactory()
    for product in products[:3]:
        RecommendationFactory(model_version=version, retailer=retailer, product=product)
    ReorderPredictionFactory(model_version=version, retailer=retailer, product=products[3])
    ProductAssociationFactory(model_version=version, product=products[0], other=products[1])
    for weeks_ago in range(4):
        order = OrderFactory(retailer=retailer, placed_at=timezone.now() - timedelta(weeks=weeks_ago, days=1))
        OrderLineFactory(order=order, product=products[weeks_ago % 4], quantity=3 + weeks_ago)
    OrderLineFactory(order=OrderFactory(retailer=retailer, basket=True), product=products[0], quantity=2)
    return {
        "retailer": retailer_user,
        "vendor": UserFactory(vendor_member=True, vendor=vendor),
        "staff": UserFactory(staff_member=True),
        "product": products[0],
        "order": retailer.orders.filter(status="placed").first(),
    }


def _visit_all(chromium, live_server, username: str, landing: str, paths: list[str]) -> dict[str, list[str]]:
    """Sign in through the real form, then open each path; the violations and CSP console errors per page."""
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda message: console.append(message.text) if "Content Security Policy" in message.text else None,
    )
    found: dict[str, list[str]] = {}

    def check(path: str) -> None:
        page.wait_for_load_state("networkidle")
        found[path] = page.evaluate("window.__cspViolations") + console[:]
        console.clear()

    page.goto(live_server.url + reverse("accounts:login"))
    check(reverse("accounts:login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{landing}")
    check(landing)
    for path in paths:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        check(path)
    context.close()
    return found


def test_retailer_pages_run_under_the_policy_without_a_violation(chromium, live_server, portal_world) -> None:
    paths = [
        reverse("catalog:list"),
        reverse("catalog:detail", args=[portal_world["product"].pk]),
        reverse("orders:basket"),
        reverse("orders:list"),
        reverse("orders:detail", args=[portal_world["order"].pk]),
        reverse("recommendations:history"),
        reverse("accounts:profile"),
        reverse("accounts:settings"),
        reverse("recommendations:dashboard"),
    ]

    found = _visit_all(chromium, live_server, portal_world["retailer"].username, paths[-1], paths)

    assert {path: errors for path, errors in found.items() if errors} == {}


def test_the_reason_bars_are_drawn_as_wide_as_their_weights_without_inline_styles(
    chromium, live_server, portal_world
) -> None:
    retailer = portal_world["retailer"].retailer
    RecommendationFactory(
        retailer=retailer,
        reasons=[
            {"kind": "popular", "weight": 0.65, "facts": {"retailers": 9, "window_days": 30, "scope": "all"}},
            {
                "kind": "repeat",
                "weight": 0.35,
                "facts": {"times_ordered": 2, "orders_total": 4, "last_ordered": "2026-11-02"},
            },
        ],
    )
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    page.goto(live_server.url + reverse("accounts:login"))
    page.fill("input[name=username]", portal_world["retailer"].username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{reverse('recommendations:dashboard')}")
    # A bar is drawn once its "Why?" is opened, as a person opens it.
    for summary in page.locator("details.rec-why:has(.bar) summary").all():
        summary.click()

    bars = page.eval_on_selector_all(
        ".rec-reason-weight .bar",
        """bars => bars.map(bar => [
            bar.className, bar.getAttribute("style"),
            bar.getBoundingClientRect().width, bar.parentElement.getBoundingClientRect().width,
        ])""",
    )
    violations = page.evaluate("window.__cspViolations")
    context.close()

    # Each bar is its weight's share of the track's inside (the track has 1 px borders).
    assert sorted(class_name for class_name, *_ in bars) == ["bar bar-100"] * 3 + ["bar bar-35", "bar bar-65"]
    for class_name, style, drawn, track in bars:
        share = int(class_name.rsplit("-", 1)[1]) / 100
        assert style is None
        assert drawn > 0 and drawn == pytest.approx(share * (track - 2), abs=1)
    assert violations == []


def test_vendor_and_admin_pages_run_under_the_policy_without_a_violation(
    chromium, live_server, portal_world
) -> None:
    vendor_home = reverse("vendors:home")
    vendor_paths = [
        vendor_home,
        reverse("vendors:demand"),
        reverse("vendors:product", args=[portal_world["product"].pk]),
        reverse("vendors:forecasts"),
        reverse("vendors:insights"),
    ]
    vendor = portal_world["vendor"].username
    vendor_found = _visit_all(chromium, live_server, vendor, vendor_home, vendor_paths)
    staff = portal_world["staff"]
    admin_paths = [
        reverse("admin:index"),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_change", args=[staff.pk]),
        reverse("admin:catalog_product_change", args=[portal_world["product"].pk]),
        reverse("admin:recommendations_modelversion_changelist"),
        reverse("admin:recommendations_recommendationevent_changelist"),
        reverse("admin:axes_accessattempt_changelist"),
        reverse("admin:recommendations_preview"),
    ]
    # Staff land on the admin through the portal's own login form.
    admin_found = _visit_all(chromium, live_server, staff.username, reverse("admin:index"), admin_paths)

    assert {path: errors for path, errors in (vendor_found | admin_found).items() if errors} == {}


def test_filters_still_apply_on_change_now_that_htmx_may_not_evaluate_code(
    chromium, live_server, portal_world
) -> None:
    product = portal_world["product"]
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    page.goto(live_server.url + reverse("accounts:login"))
    page.fill("input[name=username]", portal_world["retailer"].username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{reverse('recommendations:dashboard')}")

    page.goto(live_server.url + reverse("catalog:list"))
    page.select_option("#id_category", str(product.category_id))
    page.wait_for_url(f"**category={product.category_id}**")
    page.fill("#id_q", product.name)
    page.wait_for_url("**q=**")
    page.wait_for_load_state("networkidle")
    shown = page.locator("#catalogue-results").inner_text()
    violations = page.evaluate("window.__cspViolations")
    context.close()

    assert product.name in shown
    assert violations == []


def test_the_violation_collector_sees_an_inline_style(chromium, live_server) -> None:
    # The other tests pass on an empty list; this shows the list would not be empty if a template broke the
    # rule.
    context = chromium.new_context()
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    page.goto(live_server.url + reverse("accounts:login"))
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">inline</p>')")
    page.wait_for_function("window.__cspViolations.length > 0", timeout=TIMEOUT_MS)
    violations = page.evaluate("window.__cspViolations")
    context.close()

    assert violations[0].startswith("style-src-attr blocked inline")


def test_the_lockout_page_explains_the_pause_under_the_policy(
    chromium, live_server, portal_world, screenshots_dir
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    page.goto(live_server.url + reverse("accounts:login"))
    for _ in range(5):
        page.fill("input[name=username]", portal_world["retailer"].username)
        page.fill("input[name=password]", "a wrong guess")
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in paused for 15 minutes")
    expect(page.get_by_role("alert")).to_contain_text(portal_world["retailer"].username)
    page.screenshot(path=screenshots_dir / "login-locked-out.png", full_page=True)
    violations = page.evaluate("window.__cspViolations")
    context.close()

    assert violations == []


# ReDoc's sidebar credit is an <img> of https://cdn.redoc.ly/redoc/logo-mini.svg, hard-wired in its bundle
# with no option to turn it off. Our `img-src 'self'` stops it in the browser (ReDoc then drops the image and
# keeps the text), so nothing leaves the machine; that one blocked image is the only violation allowed.
REDOC_CREDIT = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_the_api_documentation_renders_offline_under_the_policy(chromium, live_server) -> None:
    # Swagger UI and ReDoc come from our own static files. Every request for another origin is recorded with
    # how it ended, so "offline" is checked, not assumed: such a request must never reach the network.
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    foreign: dict[str, str] = {}

    def record(request, outcome: str) -> None:
        # blob: URLs are ReDoc's own web worker, made in the page: not a request to anywhere.
        if not request.url.startswith((live_server.url, "blob:", "data:")):
            foreign[request.url] = outcome

    page.on("requestfailed", lambda request: record(request, request.failure or "failed"))
    page.on("requestfinished", lambda request: record(request, "reached the network"))
    rendered = {}
    violations = {}
    for path, selector in (
        (reverse("api-v1-docs"), ".opblock"),
        (reverse("api-v1-redoc"), "[data-section-id]"),
    ):
        page.goto(live_server.url + path)
        page.wait_for_selector(selector)
        rendered[path] = page.locator(selector).count()
        page.wait_for_load_state("networkidle")
        violations[path] = page.evaluate("window.__cspViolations")
    context.close()

    assert all(count > 10 for count in rendered.values()), rendered
    assert foreign in ({}, {REDOC_CREDIT: "csp"}), foreign
    assert violations[reverse("api-v1-docs")] == []
    assert all(REDOC_CREDIT in violation for violation in violations[reverse("api-v1-redoc")])
