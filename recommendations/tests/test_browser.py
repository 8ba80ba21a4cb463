"""The retailer's main journey in a real browser, plus screenshots of every portal page at two widths.

Data: a small demo world (the one `seed_demo` builds), trained and precomputed in-process exactly as a worker
would, so every list on the pages comes from real rows with real explanations.
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.models import User
from orders.demo_world import DEMO_PASSWORD, DEMO_USERNAMES, DemoWorldConfig, demo_world_build
from orders.models import Order
from recommendations import training, training_runs
from recommendations.models import ModelVersion, ProductAssociation, Recommendation, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
# Seconds, not minutes: tiny embeddings and a single TensorFlow epoch.
FAST_TRAINING = {"params": {"neural": {"epochs": 1, "dim": 8}, "factorization": {"factors": 8}}}
TIMEOUT_MS = 15_000


@pytest.fixture
def demo_retailer(settings, tmp_path: Path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    demo_world_build(config=DemoWorldConfig(retailers=20, products=80, vendors=3, days=240))
    run = training_runs.training_run_create(
        trigger=TrainingRun.Trigger.COMMAND, parameters={"hybrid": FAST_TRAINING}
    )
    version = training.training_run_execute(run_id=run.pk).model_version
    assert version.status == ModelVersion.Status.ACTIVE
    return User.objects.get(username=DEMO_USERNAMES["retailer"])


def _log_in(page, live_server, username: str) -> None:
    page.goto(live_server.url + reverse("accounts:login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(reverse("recommendations:dashboard")) + "$"))


def _card_with_partners(retailer, version_id: int) -> int:
    """A recommended product that has "bought together" partners, so the basket gets suggestions."""
    recommended = Recommendation.objects.filter(
        model_version_id=version_id, retailer=retailer, surface="for_you"
    ).order_by("rank")[:12]
    with_partners = set(
        ProductAssociation.objects.filter(model_version_id=version_id).values_list("product_id", flat=True)
    )
    return next(row.product_id for row in recommended if row.product_id in with_partners)


def _suggested_names(page) -> list[str]:
    # The panel first renders a placeholder that asks for the suggestions on load; wait for the answer.
    page.wait_for_selector('#basket-suggestions:not([hx-trigger*="load"])', timeout=TIMEOUT_MS)
    return page.locator("#basket-suggestions .shop-related li > a").all_inner_texts()


def test_a_retailer_orders_from_recommendations_and_orders_again(
    chromium, live_server, demo_retailer, screenshots_dir: Path
) -> None:
    from playwright.sync_api import expect

    retailer = demo_retailer.retailer
    version = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    context = chromium.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    # The basket confirms "Place order" in a dialog, which a person accepts.
    page.on("dialog", lambda dialog: dialog.accept())

    _log_in(page, live_server, demo_retailer.username)
    expect(page.locator("#portal-for-you .rec-card").first).to_be_visible()
    expect(page.locator("#portal-model")).to_contain_text(f"model v{version.pk}")

    product_id = _card_with_partners(retailer, version.pk)
    card = page.locator(f"#rec-for_you-{product_id}")
    why = card.locator("details.rec-why")
    expect(why.locator(".rec-why-sentence")).to_be_hidden()
    why.locator("summary").click()
    expect(why.locator(".rec-why-sentence")).to_be_visible()
    expect(why.locator(".rec-reasons li").first).to_be_visible()

    card.locator("input[name=quantity]").fill("2")
    card.get_by_role("button", name="Add to basket").click()
    expect(card.locator(".rec-status")).to_contain_text("2 in basket")
    expect(page.locator("#portal-summary")).to_contain_text("1 product")

    page.goto(live_server.url + reverse("orders:basket"))
    before = _suggested_names(page)
    assert before, "a product with bought-together partners gets basket suggestions"
    page.locator("#basket-suggestions .shop-related li").first.get_by_role("button").click()
    expect(page.locator("#basket tbody tr")).to_have_count(2)
    expect(page.locator("#basket-suggestions .shop-related li > a").first).not_to_have_text(before[0])
    after = _suggested_names(page)
    assert before[0] not in after

    first_line = page.locator("#basket tbody tr").first
    first_line.locator("input[name=quantity]").fill("5")
    first_line.get_by_role("button", name="Update").click()
    expect(page.locator("#basket tbody tr").first.locator("input[name=quantity]")).to_have_value("5")

    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/\d+/$"))
    order = Order.objects.filter(retailer=retailer, status=Order.Status.PLACED).latest("placed_at")
    assert {line.product_id: line.quantity for line in order.lines.all()}[product_id] in (2, 5)
    assert order.lines.count() == 2

    page.goto(live_server.url + reverse("orders:list"))
    expect(page.locator("#order-results")).to_contain_text(f"#{order.number}")
    page.get_by_role("link", name=f"#{order.number}", exact=True).click()
    page.get_by_role("button", name="Order again").click()
    page.wait_for_url(re.compile(re.escape(reverse("orders:basket")) + "$"))
    expect(page.locator("#basket tbody tr")).to_have_count(2)
    basket = Order.objects.get(retailer=retailer, status=Order.Status.DRAFT)
    assert {line.product_id for line in basket.lines.all()} == {line.product_id for line in order.lines.all()}

    pages = {
        "dashboard": reverse("recommendations:dashboard"),
        "catalogue": reverse("catalog:list"),
        "product": reverse("catalog:detail", args=[product_id]),
        "basket": reverse("orders:basket"),
        "orders": reverse("orders:list"),
    }
    phone = chromium.new_context(viewport=PHONE, storage_state=context.storage_state(), is_mobile=True)
    phone_page = phone.new_page()
    for width_name, tab in (("desktop", page), ("phone", phone_page)):
        for name, path in pages.items():
            tab.goto(live_server.url + path)
            tab.wait_for_load_state("networkidle")
            if name == "dashboard":
                tab.locator("#portal-for-you details.rec-why summary").first.click()
            tab.screenshot(path=str(screenshots_dir / f"{name}-{width_name}.png"), full_page=True)
    # Nothing on a phone-width page is wider than the screen.
    for path in pages.values():
        phone_page.goto(live_server.url + path)
        overflow = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone"
    phone.close()
    context.close()
