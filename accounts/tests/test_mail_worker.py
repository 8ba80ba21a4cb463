"""The confirmation through a real Celery worker process: placing an order queues it with the order (task
outbox), the worker sends it with the e-mail backend of its own environment, and the outbox marks it done."""

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from accounts.models import EmailDelivery
from accounts.tests.factories import UserFactory
from orders.services import order_place
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import TaskOutbox

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_mail_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Makes the `celery_worker` fixture (requested after this one) write its mail to files here."""
    mail_dir = tmp_path / "mail"
    monkeypatch.setenv("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    monkeypatch.setenv("EMAIL_FILE_PATH", str(mail_dir))
    return mail_dir


def _wait_for(condition: Callable[[], object], *, timeout: float, message: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def test_the_worker_mails_the_confirmation_of_an_order_placed_in_the_portal(
    worker_mail_dir: Path, celery_worker
) -> None:
    worker = celery_worker()
    buyer = UserFactory(email="sam@shop.example")
    basket = OrderFactory(retailer=buyer.retailer, basket=True)
    OrderLineFactory(order=basket, quantity=4)

    order_place(order=basket)

    files = _wait_for(lambda: list(worker_mail_dir.glob("*.log")), timeout=60, message="the mail file")
    text = files[0].read_text()
    basket.refresh_from_db()
    assert f"Subject: Order #{basket.number} confirmed" in text
    assert "To: sam@shop.example" in text
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in text
    assert "Content-Type: text/html" in text
    entry = TaskOutbox.objects.get(task_name="accounts.tasks.send_order_confirmation")
    _wait_for(
        lambda: TaskOutbox.objects.filter(pk=entry.pk, completed_at__isnull=False).exists(),
        timeout=30,
        message="the outbox row to be completed",
    )
    assert EmailDelivery.objects.get().to_email == "sam@shop.example"
    assert "send_order_confirmation" in worker.log()
