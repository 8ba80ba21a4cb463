"""`manage.py demo_prepare`: what `make demo` runs before it serves, in one process."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.tests.factories import UserFactory
from orders.demo_world import DEMO_PASSWORD, DEMO_USERNAMES
from orders.management.commands.demo_prepare import EXIT_NEEDS_TRAINING
from recommendations.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_logins() -> None:
    """A demo world counts as built once its logins exist: the command then leaves it alone."""
    for username in DEMO_USERNAMES.values():
        UserFactory(username=username)


def _prepare() -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("demo_prepare", "--url", "http://127.0.0.1:8180", stdout=out)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue()
    return 0, out.getvalue()


def test_without_an_active_version_it_prints_the_logins_and_asks_for_training(demo_logins) -> None:
    status, output = _prepare()

    assert status == EXIT_NEEDS_TRAINING
    assert "Demo world already built." in output
    assert "SmartBasket is at http://127.0.0.1:8180" in output
    for username in DEMO_USERNAMES.values():
        assert f"username {username:<14} password {DEMO_PASSWORD}" in output


def test_with_an_active_version_it_exits_zero(demo_logins) -> None:
    ModelVersionFactory()

    assert _prepare()[0] == 0
