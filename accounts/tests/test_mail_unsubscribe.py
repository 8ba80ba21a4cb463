"""A mail's unsubscribe link: works without signing in, asks once, turns off exactly that kind of mail; the
List-Unsubscribe-Post one-click POST of a mail client works without a CSRF token."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.mail import services
from accounts.mail.unsubscribe import unsubscribe_token
from accounts.models import EmailDelivery
from accounts.tests.factories import UserFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.tests.factories import ModelVersionFactory, ReorderPredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return UserFactory(email_opt_in=True, email="sam@shop.example")


def _digest_link(member) -> str:
    ModelVersionFactory()
    ReorderPredictionFactory(retailer=member.retailer)
    services.reorder_digest_send(user_id=member.pk, week="2026-W49")
    return mail.outbox[-1].extra_headers["List-Unsubscribe"].strip("<>").removeprefix("http://127.0.0.1:8000")


def test_the_digests_link_asks_first_then_turns_the_opt_in_off_without_signing_in(member) -> None:
    link = _digest_link(member)
    visitor = Client(enforce_csrf_checks=True)

    page = visitor.get(link)

    assert page.status_code == 200
    body = page.content.decode()
    assert "Stop reorder digest emails?" in body and "sam@shop.example" in body
    assert '<form method="post"' in body
    member.refresh_from_db()
    assert member.email_opt_in, "opening the link (as a mail scanner does) must change nothing"

    done = visitor.post(link)

    assert done.status_code == 200
    assert "You are unsubscribed" in done.content.decode()
    member.refresh_from_db()
    assert (member.email_opt_in, member.email_order_confirmations) == (False, True)
    assert "already off" in visitor.get(link).content.decode()


def test_a_confirmations_link_turns_off_confirmations_only(member) -> None:
    order = OrderFactory(retailer=member.retailer)
    OrderLineFactory(order=order)
    services.order_confirmation_send(order_id=order.pk)
    link = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>")

    assert Client(enforce_csrf_checks=True).post(link).status_code == 200

    member.refresh_from_db()
    assert (member.email_opt_in, member.email_order_confirmations) == (True, False)


@pytest.mark.parametrize("token", ["not-a-token", "WzEsInJlb3JkZXJfZGlnZXN0Il0:forged:signature"])
def test_a_damaged_or_forged_link_is_a_clear_400_and_changes_nothing(
    client: Client, member, token: str
) -> None:
    response = client.post(reverse("accounts:unsubscribe", args=[token]))

    assert response.status_code == 400
    assert "This unsubscribe link is not valid" in response.content.decode()
    member.refresh_from_db()
    assert member.email_opt_in


def test_a_token_names_one_person_and_one_kind(member) -> None:
    other = UserFactory(email_opt_in=True)
    token = unsubscribe_token(user_id=member.pk, kind=EmailDelivery.Kind.REORDER_DIGEST)

    Client().post(reverse("accounts:unsubscribe", args=[token]))

    member.refresh_from_db()
    other.refresh_from_db()
    assert (member.email_opt_in, other.email_opt_in) == (False, True)
    assert unsubscribe_token(user_id=other.pk, kind="reorder_digest") != token


def test_the_settings_page_turns_each_mail_back_on(client: Client, member) -> None:
    member.email_opt_in = member.email_order_confirmations = False
    member.save()
    client.force_login(member)

    client.post(
        reverse("accounts:settings"),
        {"items_per_page": "25", "email_opt_in": "on", "email_order_confirmations": "on"},
    )

    member.refresh_from_db()
    assert (member.email_opt_in, member.email_order_confirmations) == (True, True)
