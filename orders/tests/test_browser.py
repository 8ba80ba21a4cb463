"""The retailer's pages on a 390 px phone in a real browser: nothing scrolls sideways, no money is cut off.

Data: a small demo world (the one `seed_demo` builds), trained and precomputed in-process as a worker would
(so the dashboard has its cards), plus a wholesale-sized order and basket whose long product names and
five-figure totals are the widest content these pages hold. Screenshots of each page at
phone width go to artifacts/screenshots/ as `phone-<page>.png`.
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.models import User
from catalog.tests.factories import ProductFactory
from orders.demo_world import DEMO_PASSWORD, DEMO_USERNAMES, DemoWorldConfig, demo_world_build
from orders.models import Order
from orders.services import basket_add_product, order_place
from recommendations import training, training_runs
from recommendations.models import ModelVersion, TrainingRun
from recommendations.tests.conftest import chromium, screenshots_dir  # noqa: F401  (fixtures)
from recommendations.tests.test_browser import FAST_TRAINING

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000
# What on the page is wider than its box: the document, every table wrapper and table, and every element
# that clips or scrolls its content sideways (visually hidden labels and headers, 1 px boxes by design,
# excepted).
SIDEWAYS = """
() => {
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) found.push(`document ${root.scrollWidth} > ${root.clientWidth}`);
  for (const element of document.querySelectorAll("main *, .container *")) {
    const style = getComputedStyle(element);
    const clips = ["auto", "scroll", "hidden", "clip"].includes(style.overflowX);
    const tabular = element.matches(".table-wrap, table");
    const visuallyHidden = element.getBoundingClientRect().width <= 1;
    if ((clips || tabular) && !visuallyHidden && element.scrollWidth > element.clientWidth) {
      const name = `${element.tagName.toLowerCase()}.${element.className}`;
      found.push(`${name} ${element.scrollWidth} > ${element.clientWidth}`);
    }
  }
  return found;
}
"""
# Every amount of money on the page that is not entirely on the screen: off either edge, cut by an ancestor
# that clips, or shortened by its own box.
CUT_MONEY = """
() => {
  const cut = [];
  const width = document.documentElement.clientWidth;
  const amounts = Array.from(document.querySelectorAll("main *, .container *")).filter(
    element => /£\\s?[0-9]/.test(element.textContent) && element.children.length === 0 && element.offsetParent
  );
  for (const element of amounts) {
    const box = element.getBoundingClientRect();
    let clipped = box.left < 0 || box.right > width || element.scrollWidth > element.clientWidth + 1;
    for (let parent = element.parentElement; parent && !clipped; parent = parent.parentElement) {
      if (getComputedStyle(parent).overflowX !== "visible") {
        const frame = parent.getBoundingClientRect();
        clipped = box.left < frame.left - 1 || box.right > frame.right + 1;
      }
    }
    if (clipped) cut.push(element.textContent.trim());
  }
  return cut;
}
"""


def _assert_across_the_screen(locator) -> None:
    """The element lies between the screen's left and right edges (scrolling down may still be needed)."""
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0, f"{locator} is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{locator} is off the screen: {box}"


@pytest.fixture
def wholesale_retailer(settings, tmp_path: Path) -> User:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    demo_world_build(config=DemoWorldConfig(retailers=12, products=60, vendors=2, days=120))
    run = training_runs.training_run_create(
        trigger=TrainingRun.Trigger.COMMAND, parameters={"hybrid": FAST_TRAINING}
    )
    assert training.training_run_execute(run_id=run.pk).model_version.status == ModelVersion.Status.ACTIVE
    user = User.objects.get(username=DEMO_USERNAMES["retailer"])
    retailer = user.retailer
    big = ProductFactory(
        name="Brightwell Sparkling Elderflower Pressé Celebration Multipack 24 x 275ml Glass Bottles",
        unit_price=Decimal("1234.56"),
    )
    other = ProductFactory(name="Ground Coffee Espresso Roast Catering Sack 5kg", unit_price=Decimal("89.99"))
    for product, quantity in ((big, 99), (other, 12)):
        basket_add_product(retailer=retailer, product=product, quantity=quantity)
    order_place(order=Order.objects.get(retailer=retailer, status=Order.Status.DRAFT))
    for product, quantity in ((big, 98), (other, 7)):
        basket_add_product(retailer=retailer, product=product, quantity=quantity)
    return user


def test_no_page_scrolls_sideways_or_cuts_money_on_a_390_px_phone(
    chromium,  # noqa: F811
    live_server,
    wholesale_retailer: User,
    screenshots_dir: Path,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(live_server.url + reverse("accounts:login"))
    page.fill("input[name=username]", wholesale_retailer.username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(reverse("recommendations:dashboard")) + "$"))
    order = Order.objects.filter(retailer=wholesale_retailer.retailer, status=Order.Status.PLACED).latest(
        "placed_at"
    )
    pages = {
        "basket": reverse("orders:basket"),
        "orders": reverse("orders:list"),
        "order": reverse("orders:detail", args=[order.pk]),
        "dashboard": reverse("recommendations:dashboard"),
        "catalogue": reverse("catalog:list"),
        "product": reverse("catalog:detail", args=[order.lines.order_by("-unit_price").first().product_id]),
        "history": reverse("recommendations:history"),
        "profile": reverse("accounts:profile"),
        "settings": reverse("accounts:settings"),
        "password": reverse("accounts:password_change"),
    }
    for name, path in pages.items():
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        if name == "dashboard":
            expect(page.locator("#portal-for-you .rec-card").first).to_be_visible()
        page.screenshot(path=str(screenshots_dir / f"phone-{name}.png"), full_page=True)
        assert page.evaluate(SIDEWAYS) == [], f"{name} scrolls sideways on a phone"
        assert page.evaluate(CUT_MONEY) == [], f"{name} cuts money off on a phone"

    # The five-figure totals are on the screen in full, and so is every action on the lines.
    page.goto(live_server.url + pages["basket"])
    expect(page.locator("#basket .shop-total")).to_have_text("Total £121,616.81")
    expect(page.locator("#basket tbody tr").first).to_contain_text("£120,986.88")
    place = page.get_by_role("button", name="Place order")
    for button in [*page.locator("#basket tbody button").all(), place]:
        _assert_across_the_screen(button)
    assert page.evaluate("window.scrollX") == 0
    page.goto(live_server.url + pages["orders"])
    expect(page.locator("#order-results tbody tr").first).to_contain_text(f"#{order.number}")
    expect(page.locator("#order-results tbody tr").first).to_contain_text("£123,301.32")
    page.goto(live_server.url + pages["order"])
    expect(page.locator("h1")).to_have_text(f"Order #{order.number}")
    expect(page.locator("tfoot")).to_contain_text("£123,301.32")
    _assert_across_the_screen(page.get_by_role("button", name="Order again"))
    # On the dashboard every card's price and button are reached by scrolling down, never sideways.
    page.goto(live_server.url + pages["dashboard"])
    for button in page.locator(".rec-card").get_by_role("button", name="Add to basket").all():
        _assert_across_the_screen(button)
    assert page.evaluate("window.scrollX") == 0
    context.close()
