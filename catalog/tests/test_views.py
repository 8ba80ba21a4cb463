from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import RecommendationEvent
from recommendations.tests.factories import ProductAssociationFactory, SimilarProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def shop(client: Client, user) -> Client:
    client.force_login(user)
    return client


def test_the_catalogue_lists_products_with_add_forms(shop: Client) -> None:
    ProductFactory(name="Jam jar")
    response = shop.get(reverse("catalog:list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Jam jar" in body
    assert 'action="/basket/add/"' in body
    assert 'hx-trigger="input changed delay:250ms, search"' in body
    assert "<html" in body


def test_an_htmx_search_returns_only_the_results_partial(shop: Client) -> None:
    ProductFactory(name="Jam jar")
    ProductFactory(name="Tea towel")
    response = shop.get(
        reverse("catalog:list"), {"q": "jam", "vendor": "", "sort": ""}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="catalogue-results"' in body
    assert "Jam jar" in body
    assert "Tea towel" not in body
    assert "HX-Request" in response["Vary"]
    assert response["HX-Push-Url"] == "/catalogue/?q=jam"


def test_a_history_restore_gets_the_whole_page(shop: Client) -> None:
    response = shop.get(
        reverse("catalog:list"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_invalid_filter_values_are_ignored(shop: Client) -> None:
    ProductFactory(name="Jam jar")
    response = shop.get(reverse("catalog:list"), {"min_price": "cheap", "category": "999999", "sort": "x"})
    assert response.status_code == 200
    assert "Jam jar" in response.content.decode()


def test_pagination_links_keep_the_filters(shop: Client) -> None:
    ProductFactory.create_batch(30, name="Mug")
    response = shop.get(reverse("catalog:list"), {"q": "mug", "sort": "price"})
    body = response.content.decode()
    assert "?q=mug&amp;sort=price&amp;page=2" in body
    page_two = shop.get(
        reverse("catalog:list"), {"q": "mug", "sort": "price", "page": "2"}, HTTP_HX_REQUEST="true"
    )
    # The default "rows per page" is 25.
    assert page_two.content.decode().count('class="card shop-card"') == 5


@pytest.mark.parametrize("rows", [10, 50])
def test_the_catalogue_shows_as_many_products_as_the_rows_per_page_setting(
    shop: Client, user, rows: int
) -> None:
    user.items_per_page = rows
    user.save(update_fields=["items_per_page"])
    ProductFactory.create_batch(rows + 3, name="Mug")

    first = shop.get(reverse("catalog:list")).content.decode()
    last = shop.get(reverse("catalog:list"), {"page": "2"}, HTTP_HX_REQUEST="true").content.decode()

    assert first.count('class="card shop-card"') == rows
    assert "Page 1 of 2" in first
    assert last.count('class="card shop-card"') == 3


def test_the_catalogue_page_query_count_does_not_grow_with_products(
    shop: Client, user, django_assert_max_num_queries
) -> None:
    products = ProductFactory.create_batch(24)
    for product in products[:10]:
        OrderLineFactory(order=OrderFactory(retailer=user.retailer), product=product)
    with django_assert_max_num_queries(9):
        response = shop.get(reverse("catalog:list"))
    assert response.status_code == 200


def test_the_product_page_shows_only_this_retailers_purchase_history(shop: Client, user) -> None:
    product = ProductFactory(name="Jam jar")
    placed = timezone.now() - timedelta(days=3)
    OrderLineFactory(
        order=OrderFactory(retailer=user.retailer, placed_at=placed), product=product, quantity=17
    )
    OrderLineFactory(order=OrderFactory(), product=product, quantity=923)
    response = shop.get(reverse("catalog:detail", args=[product.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert ">17<" in body
    assert "923" not in body
    assert placed.strftime("%b %Y") in body


def _purchase_rows(body: str) -> int:
    section = body.split('id="product-purchases"', 1)[1].split("</section>", 1)[0]
    return section.count("<tr>") - 1  # the header row


def test_the_product_page_pages_through_the_whole_purchase_history_by_rows_per_page(
    shop: Client, user
) -> None:
    product = ProductFactory(name="Jam jar")
    now = timezone.now()
    orders = [OrderFactory(retailer=user.retailer, placed_at=now - timedelta(days=day)) for day in range(33)]
    for order in orders:
        OrderLineFactory(order=order, product=product)

    first = shop.get(reverse("catalog:detail", args=[product.pk])).content.decode()
    rest = shop.get(
        reverse("catalog:detail", args=[product.pk]),
        {"page": "2"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="product-purchases",
    ).content.decode()

    # 25 rows per page by default: nothing stops at 20 any more, and the second page holds the oldest 8.
    assert _purchase_rows(first) == 25
    assert "1\u201325 of 33" in first
    assert f"#{orders[0].number}<" in first and f"#{orders[24].number}<" in first
    assert "<html" not in rest and "Often bought together" not in rest
    assert _purchase_rows(rest) == 8
    assert f"#{orders[32].number}<" in rest and f"#{orders[24].number}<" not in rest

    user.items_per_page = 10
    user.save(update_fields=["items_per_page"])
    assert _purchase_rows(shop.get(reverse("catalog:detail", args=[product.pk])).content.decode()) == 10


def test_the_purchase_history_partial_records_no_second_impression(shop: Client, user) -> None:
    product = ProductFactory()
    ProductAssociationFactory(product=product)
    shop.get(reverse("catalog:detail", args=[product.pk]))
    shown = RecommendationEvent.objects.count()

    shop.get(
        reverse("catalog:detail", args=[product.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="product-purchases",
    )

    assert RecommendationEvent.objects.count() == shown


def test_the_product_page_shows_bought_together_and_similar_with_reasons(shop: Client) -> None:
    product = ProductFactory(name="Teapot")
    cups = ProductFactory(name="Tea cups")
    cosy = ProductFactory(name="Tea cosy")
    retired = ProductFactory(name="Retired saucer", is_active=False)
    for rank, other in enumerate([cups, retired]):
        ProductAssociationFactory(
            product=product,
            other=other,
            rank=rank,
            explanation=f"In 212 of 1,340 orders with Teapot ({other.name}).",
        )
    SimilarProductFactory(product=product, other=cosy, similarity=0.82)
    body = shop.get(reverse("catalog:detail", args=[product.pk])).content.decode()
    assert "In 212 of 1,340 orders with Teapot (Tea cups)." in body
    assert "Retired saucer" not in body
    assert "Tea cosy" in body
    assert "82% match on name, description and category." in body
    assert 'name="src" value="bought_together"' in body
    assert 'name="src" value="similar"' in body
    shown = set(RecommendationEvent.objects.filter(kind="impression").values_list("surface", "product__name"))
    assert shown == {("bought_together", "Tea cups"), ("similar", "Tea cosy")}


def test_an_unknown_product_is_404(shop: Client) -> None:
    assert shop.get(reverse("catalog:detail", args=[999999])).status_code == 404


@pytest.mark.parametrize("name", ["catalog:list", "catalog:detail"])
def test_vendors_are_forbidden_and_anonymous_users_sent_to_login(client: Client, name: str) -> None:
    args = [ProductFactory().pk] if name == "catalog:detail" else []
    url = reverse(name, args=args)
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert reverse("accounts:login") in anonymous["Location"]
    client.force_login(UserFactory(vendor_member=True))
    assert client.get(url).status_code == 403
