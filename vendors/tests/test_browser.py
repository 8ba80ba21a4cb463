"""The vendor's journey in a real browser under the real Content-Security-Policy, plus screenshots of every
vendor page at two widths.

Data: a small demo world (the one `seed_demo` builds, with the demo vendor's story) and its analytics
refreshed by the same services the schedule runs (rollups, insights, forecasts), so every figure on the pages
comes from real rollups and a real forecast run.
"""

import csv
import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from accounts.models import User
from orders.demo_world import DEMO_PASSWORD, DEMO_USERNAMES, DemoWorldConfig, demo_world_build
from recommendations.tests.conftest import chromium, screenshots_dir  # noqa: F401  (fixtures)
from vendors.insights import vendor_insights_compute
from vendors.services import vendor_forecasts_refresh, vendor_rollups_refresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
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
# Every chart canvas on the page: its drawn size and whether Chart.js holds an instance for it.
CHARTS = """
() => Array.from(document.querySelectorAll("canvas.js-chart")).map(canvas => ({
  source: canvas.dataset.chartSource,
  width: canvas.getBoundingClientRect().width,
  height: canvas.getBoundingClientRect().height,
  chart: typeof window.Chart !== "undefined" && window.Chart.getChart(canvas) !== undefined,
}))
"""


@pytest.fixture
def demo_vendor() -> User:
    demo_world_build(config=DemoWorldConfig(retailers=40, products=120, vendors=2, days=420))
    vendor = User.objects.get(username=DEMO_USERNAMES["vendor"]).vendor
    vendor_rollups_refresh(vendor_id=vendor.pk)
    vendor_insights_compute(vendor_id=vendor.pk)
    vendor_forecasts_refresh(vendor_id=vendor.pk)
    return User.objects.get(username=DEMO_USERNAMES["vendor"])


class Tab:
    """A browser page that records CSP violations and console errors per visited page."""

    def __init__(self, context: object) -> None:
        self.page = context.new_page()
        self.problems: dict[str, list[str]] = {}
        self._console: list[str] = []
        self.page.on(
            "console",
            lambda message: self._console.append(message.text) if message.type == "error" else None,
        )

    def check(self) -> None:
        self.page.wait_for_load_state("networkidle")
        found = self.page.evaluate("window.__cspViolations") + self._console
        self._console = []
        if found:
            self.problems[urlsplit(self.page.url).path] = found

    def charts(self) -> list[dict]:
        self.page.wait_for_function("typeof window.Chart !== 'undefined'")
        return self.page.evaluate(CHARTS)


def _context(chromium, **options) -> object:  # noqa: F811
    context = chromium.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(COLLECT_VIOLATIONS)
    return context


def _assert_charts_drawn(tab: Tab) -> None:
    charts = tab.charts()
    assert charts, f"no chart on {tab.page.url}"
    for chart in charts:
        assert chart["chart"], f"{chart['source']} has no Chart instance on {tab.page.url}"
        assert chart["width"] > 0 and chart["height"] > 0, f"{chart['source']} is not drawn on {tab.page.url}"


def test_a_vendor_changes_the_period_drills_into_a_product_opens_insights_and_downloads_a_csv(
    chromium,  # noqa: F811
    live_server,
    demo_vendor: User,
    screenshots_dir: Path,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    context = _context(chromium, viewport=DESKTOP, accept_downloads=True)
    tab = Tab(context)
    page = tab.page

    page.goto(live_server.url + reverse("accounts:login"))
    tab.check()
    page.fill("input[name=username]", demo_vendor.username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(reverse("vendors:home")) + "$"))
    tab.check()
    expect(page.locator(".vendor-tabs a[aria-current=page]")).to_have_text("Overview")
    _assert_charts_drawn(tab)

    page.locator(".period-presets").get_by_role("link", name="365 days").click()
    page.wait_for_url(re.compile(r"[?&]period=365"))
    tab.check()
    expect(page.locator(".period-presets a[aria-current=true]")).to_have_text("365 days")
    expect(page.locator("#kpi-title")).to_contain_text("365")
    _assert_charts_drawn(tab)

    with page.expect_download() as download_info:
        page.locator("section[aria-labelledby=kpi-title]").get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0][:2] == ["measure", "period"] and len(rows) > 1

    product_link = page.locator("a[href*='/vendor/products/']").first
    product_name = product_link.inner_text()
    product_link.click()
    page.wait_for_url(re.compile(r"/vendor/products/\d+/"))
    tab.check()
    expect(page.locator("h1")).to_contain_text(product_name)
    _assert_charts_drawn(tab)
    product_path = urlsplit(page.url).path

    page.locator(".vendor-tabs").get_by_role("link", name="Forecasts").click()
    page.wait_for_url(re.compile(re.escape(reverse("vendors:forecasts"))))
    tab.check()
    _assert_charts_drawn(tab)

    page.locator(".vendor-tabs").get_by_role("link", name="Insights").click()
    page.wait_for_url(re.compile(re.escape(reverse("vendors:insights"))))
    tab.check()
    expect(page.locator(".vendor-tabs a[aria-current=page]")).to_have_text("Insights")

    pages = {
        "vendor-overview": reverse("vendors:home") + "?period=90",
        "vendor-breakdowns": reverse("vendors:demand"),
        "vendor-product": product_path,
        "vendor-forecasts": reverse("vendors:forecasts"),
        "vendor-insights": reverse("vendors:insights"),
    }
    phone = _context(chromium, viewport=PHONE, storage_state=context.storage_state(), is_mobile=True)
    phone_tab = Tab(phone)
    for width_name, current in (("desktop", tab), ("phone", phone_tab)):
        for name, path in pages.items():
            current.page.goto(live_server.url + path)
            current.check()
            current.page.screenshot(path=str(screenshots_dir / f"{name}-{width_name}.png"), full_page=True)
            if width_name == "phone":
                overflow = current.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} scrolls sideways on a phone"
    phone.close()
    context.close()

    assert tab.problems == {}
    assert phone_tab.problems == {}
