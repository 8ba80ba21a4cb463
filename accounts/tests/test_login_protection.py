import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
REAL_USER = "198.51.100.7"
LOGIN = reverse("accounts:login")
ADMIN_LOGIN = reverse("admin:login")


class CountingHasher(MD5PasswordHasher):
    """MD5 keeps these tests fast; the count shows whether a request hashed a password at all."""

    verified = 0

    def verify(self, password: str, encoded: str) -> bool:
        CountingHasher.verified += 1
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def _fast_counted_hashing(settings: object) -> None:
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    settings.AXES_FAILURE_LIMIT = 5
    CountingHasher.verified = 0


def sign_in(address: str, username: str, password: str, url: str = LOGIN) -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=address)
    return client, client.post(url, {"username": username, "password": password})


def fail(address: str, username: str, times: int, url: str = LOGIN) -> list[int]:
    return [sign_in(address, username, "wrong-guess", url)[1].status_code for _ in range(times)]


def test_the_fifth_wrong_password_locks_that_username_from_that_address_with_a_clear_page() -> None:
    user = UserFactory()

    statuses = fail(ATTACKER, user.username, 5)
    client, locked = sign_in(ATTACKER, user.username, DEFAULT_PASSWORD)

    assert statuses == [200, 200, 200, 200, 429]
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    page = locked.content.decode()
    assert "Sign-in paused for 15 minutes" in page
    assert f"5 or more failed sign-ins for <strong>{user.username}</strong> from your network" in page
    assert "ask your organisation's administrator or SmartBasket staff" in page
    assert 14 * 60 < int(locked["Retry-After"]) <= 15 * 60


def test_thirty_wrong_passwords_in_a_row_hash_only_until_the_lockout() -> None:
    user = UserFactory()

    statuses = fail(ATTACKER, user.username, 30)

    assert statuses == [200] * 4 + [429] * 26
    assert CountingHasher.verified == 5


def test_the_right_password_from_another_address_signs_in_while_the_attacker_is_locked() -> None:
    user = UserFactory()
    fail(ATTACKER, user.username, 5)

    client, response = sign_in(REAL_USER, user.username, DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk
    assert sign_in(ATTACKER, user.username, DEFAULT_PASSWORD)[1].status_code == 429


def test_the_admin_login_is_protected_too() -> None:
    staff = UserFactory(staff_member=True)

    statuses = fail(ATTACKER, staff.username, 5, url=ADMIN_LOGIN)
    client, locked = sign_in(ATTACKER, staff.username, DEFAULT_PASSWORD, url=ADMIN_LOGIN)

    assert statuses[-1] == 429
    assert locked.status_code == 429
    assert b"Sign-in paused" in locked.content
    assert "_auth_user_id" not in client.session
    assert sign_in(REAL_USER, staff.username, DEFAULT_PASSWORD, url=ADMIN_LOGIN)[1].status_code == 302


def test_staff_unlock_in_the_admin_lets_the_user_sign_in_from_the_locked_address_again() -> None:
    user = UserFactory()
    fail(ATTACKER, user.username, 5)
    staff_client = Client()
    staff_client.force_login(UserFactory(staff_member=True))
    changelist = reverse("admin:axes_accessattempt_changelist")

    listed = staff_client.get(changelist, {"locked_out": "yes"})
    attempt = AccessAttempt.objects.get(username=user.username, ip_address=ATTACKER)
    unlocked = staff_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"}
    )
    client, response = sign_in(ATTACKER, user.username, DEFAULT_PASSWORD)

    assert listed.status_code == 200
    assert user.username in listed.content.decode()
    assert "Locked Out" in listed.content.decode()
    assert unlocked.status_code == 302
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_a_successful_sign_in_forgets_the_earlier_failures_from_that_address() -> None:
    user = UserFactory()
    fail(ATTACKER, user.username, 4)

    assert sign_in(ATTACKER, user.username, DEFAULT_PASSWORD)[1].status_code == 302
    assert fail(ATTACKER, user.username, 4) == [200] * 4
    assert fail(ATTACKER, user.username, 1) == [429]


def test_guessing_many_usernames_from_one_address_pauses_that_address_only(settings: object) -> None:
    settings.AXES_ADDRESS_FAILURE_LIMIT = 8
    user = UserFactory()
    for n in range(8):
        fail(ATTACKER, f"someone-{n}", 1)

    _, locked = sign_in(ATTACKER, user.username, DEFAULT_PASSWORD)

    assert locked.status_code == 429
    assert b"too many failed sign-ins from your network" in locked.content
    assert sign_in(REAL_USER, user.username, DEFAULT_PASSWORD)[1].status_code == 302


JSON = "application/json"


def test_the_token_endpoint_counts_failures_and_answers_a_locked_combination_with_429() -> None:
    user = UserFactory()
    attacker = Client(REMOTE_ADDR=ATTACKER)
    token_url = reverse("api-v1-token")
    wrong = {"username": user.username, "password": "wrong"}
    guesses = [attacker.post(token_url, wrong, content_type=JSON).status_code for _ in range(5)]

    right = {"username": user.username, "password": DEFAULT_PASSWORD}
    locked = attacker.post(token_url, right, content_type=JSON)
    elsewhere = Client(REMOTE_ADDR=REAL_USER).post(token_url, right, content_type=JSON)

    assert guesses == [401] * 5
    assert AccessAttempt.objects.get(username=user.username, ip_address=ATTACKER).failures_since_start == 5
    assert locked.status_code == 429
    assert "Try again in 15 minutes" in locked.json()["error"]["message"]
    assert 14 * 60 < int(locked["Retry-After"]) <= 15 * 60
    assert CountingHasher.verified == 5 + 1
    assert elsewhere.status_code == 200
    assert "access" in elsewhere.json()


def test_behind_a_proxy_the_client_address_comes_from_the_configured_header(settings: object) -> None:
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    user = UserFactory()
    proxy = "10.0.0.1"
    for _ in range(5):
        # The client wrote the left-most entry itself; the proxy appended the real address.
        Client(REMOTE_ADDR=proxy).post(
            LOGIN,
            {"username": user.username, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"192.0.2.1, {ATTACKER}",
        )

    locked = Client(REMOTE_ADDR=proxy).post(
        LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD}, HTTP_X_FORWARDED_FOR=ATTACKER
    )
    real = Client(REMOTE_ADDR=proxy).post(
        LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD}, HTTP_X_FORWARDED_FOR=REAL_USER
    )

    assert AccessAttempt.objects.get().ip_address == ATTACKER
    assert locked.status_code == 429
    assert real.status_code == 302


def test_a_garbled_client_address_header_falls_back_to_the_connection_address(settings: object) -> None:
    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    user = UserFactory()

    Client(REMOTE_ADDR=ATTACKER).post(
        LOGIN, {"username": user.username, "password": "wrong"}, HTTP_X_REAL_IP="not-an-address"
    )

    assert AccessAttempt.objects.get().ip_address == ATTACKER


def test_server_side_authentication_without_a_request_still_works() -> None:
    user = UserFactory()

    assert authenticate(username=user.username, password=DEFAULT_PASSWORD) == user
    assert Client().login(username=user.username, password=DEFAULT_PASSWORD)
