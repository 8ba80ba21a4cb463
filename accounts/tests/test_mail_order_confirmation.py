"""The order confirmation: queued with the order through the task outbox, mailed by its task to each member
who keeps confirmations on, once, with a plain-text and an HTML part and an unsubscribe link."""

from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.mail import services
from accounts.mail.checks import email_is_sent
from accounts.models import EmailDelivery
from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from conftest import free_port
from orders.models import Order
from orders.services import order_place
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import TaskOutbox
from smartbasket.celery import app

pytestmark = pytest.mark.django_db

CONFIRMATION_TASK = "accounts.tasks.send_order_confirmation"


@pytest.fixture
def retailer():
    return RetailerFactory(name="Corner & Co")


@pytest.fixture
def buyer(retailer):
    return UserFactory(retailer=retailer, first_name="Sam", email="sam@shop.example")


@pytest.fixture
def basket(retailer) -> Order:
    basket = OrderFactory(retailer=retailer, basket=True)
    OrderLineFactory(
        order=basket, product=ProductFactory(name="Oat milk 1L", unit_price=Decimal("1.25")), quantity=12
    )
    OrderLineFactory(
        order=basket, product=ProductFactory(name="Rye bread", unit_price=Decimal("2.10")), quantity=3
    )
    return basket


def _run_queued(task_name: str) -> list[object]:
    """Run the outbox's rows of `task_name` here, as a worker would: the task by name with the stored args."""
    app.loader.import_default_modules()
    return [
        app.tasks[entry.task_name].apply(args=entry.args, throw=True).get()
        for entry in TaskOutbox.objects.filter(task_name=task_name)
    ]


def test_placing_an_order_mails_its_confirmation_to_each_member_who_wants_one(
    client: Client, buyer, basket: Order, retailer, django_capture_on_commit_callbacks
) -> None:
    colleague = UserFactory(retailer=retailer, email="alex@shop.example")
    UserFactory(retailer=retailer, email="off@shop.example", email_order_confirmations=False)
    UserFactory(email="other-shop@example.com")
    client.force_login(buyer)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("orders:place"))

    assert response.status_code == 302
    queued = TaskOutbox.objects.get(task_name=CONFIRMATION_TASK)
    assert queued.args == [basket.pk]
    assert _run_queued(CONFIRMATION_TASK) == [2]
    assert sorted(message.to[0] for message in mail.outbox) == [colleague.email, buyer.email]
    message = next(message for message in mail.outbox if message.to == [buyer.email])
    basket.refresh_from_db()
    # The retailer's own order number, as the portal shows it.
    assert message.subject == f"Order #{basket.number} confirmed: Corner & Co"
    # Plain text is not HTML-escaped; the HTML part is.
    assert "Corner & Co placed order" in message.body
    assert "- 12 x Oat milk 1L" in message.body and "£15.00" in message.body
    assert "Total: £21.30" in message.body
    assert f"/orders/{basket.pk}/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Corner &amp; Co" in html and "£21.30" in html
    unsubscribe_url = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith("http://127.0.0.1:8000/email/unsubscribe/")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_url in message.body and unsubscribe_url in html


def test_no_confirmation_is_queued_when_nobody_at_the_shop_wants_one(
    basket: Order, buyer, django_capture_on_commit_callbacks
) -> None:
    buyer.email_order_confirmations = False
    buyer.save(update_fields=["email_order_confirmations"])

    with django_capture_on_commit_callbacks(execute=False):
        order_place(order=basket)

    assert not TaskOutbox.objects.filter(task_name=CONFIRMATION_TASK).exists()
    assert services.order_confirmation_send(order_id=basket.pk) == 0
    assert mail.outbox == []


def test_a_member_who_opts_out_after_the_order_is_not_mailed(basket: Order, buyer) -> None:
    order_place(order=basket)
    buyer.email_order_confirmations = False
    buyer.save(update_fields=["email_order_confirmations"])

    assert services.order_confirmation_send(order_id=basket.pk) == 0
    assert mail.outbox == []


def test_a_repeated_confirmation_task_sends_nothing_twice(basket: Order, buyer) -> None:
    order_place(order=basket)

    assert services.order_confirmation_send(order_id=basket.pk) == 1
    assert services.order_confirmation_send(order_id=basket.pk) == 0

    assert len(mail.outbox) == 1
    delivery = EmailDelivery.objects.get()
    assert (delivery.kind, delivery.key, delivery.to_email) == (
        "order_confirmation",
        str(basket.pk),
        buyer.email,
    )
    assert delivery.subject == mail.outbox[0].subject


def test_a_failed_send_keeps_no_record_so_the_retry_sends_it(basket: Order, buyer, settings) -> None:
    order_place(order=basket)
    # A mail server that refuses the connection: nothing listens on this port.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False

    with pytest.raises(OSError):
        services.order_confirmation_send(order_id=basket.pk)
    assert not EmailDelivery.objects.exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.order_confirmation_send(order_id=basket.pk) == 1
    assert len(mail.outbox) == 1


def test_without_redis_the_demo_sends_the_confirmation_in_process_after_commit(
    basket: Order, buyer, django_capture_on_commit_callbacks
) -> None:
    # The embedded demo: no broker, tasks run in this process once the order commits (console backend there).
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            order_place(order=basket)
    finally:
        app.conf.task_always_eager = False

    assert [message.to for message in mail.outbox] == [[buyer.email]]
    assert not TaskOutbox.objects.exists()


def test_production_without_a_mail_server_is_a_deploy_warning(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert [warning.id for warning in email_is_sent()] == ["accounts.W001"]

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert email_is_sent() == []


@pytest.mark.django_db(transaction=True)
def test_placing_an_order_with_redis_down_succeeds_and_keeps_the_confirmation_queued(
    client: Client, buyer, basket: Order, celery_broker
) -> None:
    celery_broker(f"redis://127.0.0.1:{free_port()}/0")
    client.force_login(buyer)

    response = client.post(reverse("orders:place"))

    assert response.status_code == 302
    basket.refresh_from_db()
    assert basket.status == Order.Status.PLACED
    queued = TaskOutbox.objects.get(task_name=CONFIRMATION_TASK)
    # Pending, not lost: the periodic delivery publishes it once Redis answers.
    assert (queued.delivered_at, queued.completed_at, queued.gave_up_at) == (None, None, None)
    assert mail.outbox == []
