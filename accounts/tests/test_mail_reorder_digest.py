"""The weekly "due for reorder" digest: what is due within a week with the dashboard's sentences, only to
members who opted in, once per person and ISO week."""

import importlib
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.mail import services
from accounts.models import EmailDelivery
from accounts.tasks import send_reorder_digests
from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from recommendations.explanations import reorder_sentence
from recommendations.models import TaskOutbox
from recommendations.tests.factories import ModelVersionFactory, ReorderPredictionFactory
from smartbasket.celery import app

pytestmark = pytest.mark.django_db

DIGEST_TASK = "accounts.tasks.send_reorder_digest"


@pytest.fixture
def retailer():
    return RetailerFactory(name="Corner & Co")


@pytest.fixture
def member(retailer):
    return UserFactory(retailer=retailer, first_name="Sam", email_opt_in=True)


def _due(retailer, name: str, *, days_from_today: int, cadence: float = 14.0, **fields):
    """A reorder prediction falling due `days_from_today` from today (negative: overdue)."""
    last = timezone.localdate() + timedelta(days=days_from_today) - timedelta(days=round(cadence))
    return ReorderPredictionFactory(
        retailer=retailer,
        product=ProductFactory(name=name, **fields),
        cadence_days=cadence,
        last_ordered=last,
    )


def test_the_digest_lists_what_is_due_within_a_week_with_the_dashboards_sentences(
    client: Client, retailer, member
) -> None:
    ModelVersionFactory()
    overdue = _due(retailer, "Oat milk 1L", days_from_today=-3)
    soon = _due(retailer, "Rye bread", days_from_today=6, cadence=7.0)
    _due(retailer, "Candles", days_from_today=9)
    _due(retailer, "Old lamp", days_from_today=1, is_active=False)
    _due(UserFactory().retailer, "Their product", days_from_today=0)
    today = timezone.localdate()

    assert services.reorder_digest_send(user_id=member.pk, week=services.iso_week(today))

    (message,) = mail.outbox
    assert message.to == [member.email]
    assert message.subject == "2 products due for reorder (1 overdue): Corner & Co"
    assert "Oat milk 1L" in message.body and "Rye bread" in message.body
    assert "Candles" not in message.body and "Old lamp" not in message.body and "Their" not in message.body
    assert f"due since {overdue.expected_date:%-d %b %Y}" in message.body
    assert f"due {soon.expected_date:%-d %b %Y}; suggested 6" in message.body
    # Each item carries the sentence its "Why?" shows on the dashboard, word for word.
    client.force_login(member)
    dashboard = client.get(reverse("recommendations:dashboard")).content.decode()
    sentences = {
        prediction: reorder_sentence(
            cadence_days=prediction.cadence_days,
            last_ordered=prediction.last_ordered,
            today=timezone.localdate(),
        )
        for prediction in (overdue, soon)
    }
    for sentence in sentences.values():
        assert sentence in message.body
        assert sentence in dashboard
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "Corner &amp; Co" in html and sentences[soon] in html
    assert message.extra_headers["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/email/unsubscribe/")
    assert "/dashboard/" in message.body


def test_only_opted_in_members_with_something_due_get_a_digest(retailer, member) -> None:
    ModelVersionFactory()
    _due(retailer, "Oat milk 1L", days_from_today=0)
    UserFactory(retailer=retailer, email_opt_in=False)
    UserFactory(retailer=retailer, email_opt_in=True, email="")
    nothing_due = UserFactory(email_opt_in=True)

    queued = send_reorder_digests.apply().get()

    assert queued == 2
    assert sorted(entry.args[0] for entry in TaskOutbox.objects.filter(task_name=DIGEST_TASK)) == sorted(
        [member.pk, nothing_due.pk]
    )
    week = services.iso_week(timezone.localdate())
    assert services.reorder_digest_send(user_id=nothing_due.pk, week=week) is False
    assert services.reorder_digest_send(user_id=member.pk, week=week) is True
    assert [message.to for message in mail.outbox] == [[member.email]]


def test_the_digest_is_sent_once_per_week_however_often_it_runs(retailer, member) -> None:
    ModelVersionFactory()
    _due(retailer, "Oat milk 1L", days_from_today=0)
    monday = date(2026, 11, 30)

    assert services.reorder_digests_enqueue(week=services.iso_week(monday)) == 1
    assert services.reorder_digest_send(user_id=member.pk, week="2026-W49", today=monday)
    # A redelivered task, a retry and a second beat run in the same week change nothing.
    assert not services.reorder_digest_send(
        user_id=member.pk, week="2026-W49", today=monday + timedelta(days=2)
    )
    assert services.reorder_digests_enqueue(week=services.iso_week(monday + timedelta(days=6))) == 0
    assert len(mail.outbox) == 1

    # The next week is a new digest.
    assert services.iso_week(monday + timedelta(days=7)) == "2026-W50"
    assert services.reorder_digest_send(user_id=member.pk, week="2026-W50", today=monday + timedelta(days=7))
    assert len(mail.outbox) == 2
    assert list(EmailDelivery.objects.order_by("key").values_list("key", flat=True)) == [
        "2026-W49",
        "2026-W50",
    ]


def test_a_member_who_opted_out_after_it_was_queued_is_not_mailed(retailer, member) -> None:
    ModelVersionFactory()
    _due(retailer, "Oat milk 1L", days_from_today=0)
    services.reorder_digests_enqueue(week="2026-W49")
    member.email_opt_in = False
    member.save(update_fields=["email_opt_in"])

    assert not services.reorder_digest_send(user_id=member.pk, week="2026-W49")
    assert mail.outbox == []


def test_beat_sends_the_digest_on_monday_mornings() -> None:
    PeriodicTask.objects.all().delete()
    importlib.import_module("accounts.migrations.0006_weekly_digest_schedule").create_schedule(apps, None)
    app.loader.import_default_modules()

    entry = PeriodicTask.objects.select_related("crontab").get(task="accounts.tasks.send_reorder_digests")

    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_week) == ("0", "7", "1")
    assert entry.task in app.tasks
