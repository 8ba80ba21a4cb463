"""The generated OpenAPI schema, checked against the running API by Schemathesis.

Schemathesis generates requests from the schema for every operation (valid and invalid bodies, query strings
and path ids) and sends them to the real application, authenticated as a retailer with a basket, orders and
an active model version. Every answer must be free of server errors and match the schema: its status code is
documented, its body validates against the documented response schema, its content type is the declared
one. Examples per operation are bounded so the suite stays within CI time.
"""

from collections.abc import Iterator
from datetime import timedelta

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.tests.factories import (
    ModelVersionFactory,
    ProductAssociationFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
    SimilarProductFactory,
)

EXAMPLES_PER_OPERATION = 12
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _retailer_world() -> str:
    """A retailer with history, a basket and lists of the active version; returns an access token."""
    now = timezone.now()
    retailer = RetailerFactory()
    user = UserFactory(retailer=retailer)
    products = [ProductFactory() for _ in range(6)]
    for days_ago in (40, 25, 10):
        order = OrderFactory(retailer=retailer, placed_at=now - timedelta(days=days_ago))
        for product in products[:3]:
            OrderLineFactory(order=order, product=product, quantity=2)
    basket = OrderFactory(retailer=retailer, basket=True)
    OrderLineFactory(order=basket, product=products[0], quantity=1)
    version = ModelVersionFactory()
    for rank, product in enumerate(products[3:], start=1):
        RecommendationFactory(model_version=version, retailer=retailer, product=product, rank=rank)
    ReorderPredictionFactory(model_version=version, retailer=retailer, product=products[1])
    ProductAssociationFactory(model_version=version, product=products[0], other=products[4])
    SimilarProductFactory(model_version=version, product=products[0], other=products[5])
    return str(RefreshToken.for_user(user).access_token)


@pytest.fixture(scope="module")
def access_token(django_db_setup: None, django_db_blocker: object) -> Iterator[str]:
    # One world for the module, rolled back at its end; each operation's test rolls back its own requests.
    with django_db_blocker.unblock(), transaction.atomic():
        yield _retailer_world()
        transaction.set_rollback(True)


class _ApplicationInTestTransaction(WSGIHandler):
    """The WSGI application without the end-of-request connection close, as Django's test client runs it, so
    every request runs inside this test's transaction and is rolled back with it."""

    def __call__(self, environ: dict, start_response: object) -> object:
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            return super().__call__(environ, start_response)
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)


def test_every_operation_answers_as_its_schema_says(db: None, access_token: str, settings: object) -> None:
    # Schemathesis calls the application as http://localhost; throttle counters of earlier tests must not
    # turn this run's requests into 429s.
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    cache.clear()
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", _ApplicationInTestTransaction())
    headers = {"Authorization": f"Bearer {access_token}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:
            failures[operation.label] = str(exc)[:2000]

    assert len(operations) >= 25
    assert failures == {}


def test_the_schema_documents_every_v1_endpoint_with_request_response_errors_and_an_example(db: None) -> None:
    document = Client().get("/api/v1/schema/?format=json").json()
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 25
    for path, method, operation in operations:
        label = f"{method.upper()} {path}"
        responses = operation["responses"]
        successes = [status for status in responses if status.startswith("2")]
        assert successes, f"{label} documents no success answer"
        assert "400" in responses and "429" in responses, f"{label} documents no error answers"
        if method in {"post", "put", "patch"} and path != "/api/v1/token/logout/":
            assert "requestBody" in operation, f"{label} documents no request body"
        has_example = any(
            "examples" in content
            for answer in [operation.get("requestBody", {}), *responses.values()]
            for content in answer.get("content", {}).values()
        )
        assert has_example, f"{label} has no example"


def test_the_documentation_pages_load_their_assets_from_this_server(db: None) -> None:
    client = Client()
    for path in ("/api/v1/docs/", "/api/v1/redoc/"):
        page = client.get(path).content.decode()
        assert "/static/drf_spectacular_sidecar/" in page
        assert "https://" not in page and "http://" not in page
