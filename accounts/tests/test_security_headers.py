import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

BASE_DIR = Path(django_settings.BASE_DIR)
PRODUCTION_EXAMPLE = BASE_DIR / "deploy" / "production.env.example"
TRANSPORT_SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "CLIENT_IP_HEADER",
]


def clean_environment(**variables: str) -> dict[str, str]:
    """Only what a process needs to run, so the developer's own shell settings cannot leak into the result."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return base | variables


def settings_under(**variables: str) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh process with exactly these variables."""
    names = json.dumps(TRANSPORT_SETTINGS)
    code = f"import json, smartbasket.settings as s; print(json.dumps({{n: getattr(s, n) for n in {names}}}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=clean_environment(**variables),
        capture_output=True,
        text=True,
        timeout=60,
    )


def read_env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    pairs = (line.split("=", 1) for line in lines)
    return {name.strip(): value.strip() for name, value in pairs}


def test_pages_carry_a_content_security_policy_without_unsafe_inline(client: Client) -> None:
    response = client.get(reverse("accounts:login"))

    policy = dict(
        [*directive.split(" ", 1), ""][:2] for directive in response["Content-Security-Policy"].split("; ")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_signed_in_pages_and_the_admin_carry_the_policy_too(client: Client) -> None:
    client.force_login(UserFactory(staff_member=True))

    for url in (reverse("admin:index"), reverse("admin:axes_accessattempt_changelist")):
        assert "default-src 'self'" in client.get(url)["Content-Security-Policy"]


def test_https_responses_carry_hsts_for_a_year_with_subdomains_and_without_preload(client: Client) -> None:
    response = client.get(reverse("accounts:login"), secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_plain_http_is_redirected_to_https_when_the_redirect_is_on(client: Client, settings: object) -> None:
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(reverse("accounts:login"))

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login/"


def test_health_probes_over_plain_http_are_not_redirected(client: Client, settings: object) -> None:
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/health/")

    assert response.status_code != 301
    assert "Location" not in response


def test_behind_a_proxy_the_forwarded_protocol_counts_as_https(client: Client, settings: object) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    response = client.get(reverse("accounts:login"), HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_session_and_csrf_cookies_are_secure_in_production(client: Client) -> None:
    user = UserFactory()
    client.get(reverse("accounts:login"))
    client.post(reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD})

    assert client.cookies["csrftoken"]["secure"] is True
    assert client.cookies["sessionid"]["secure"] is True


def test_transport_settings_default_on_without_debug_and_off_with_it() -> None:
    # Empty values, as .env.example leaves them, mean the default.
    production = settings_under(
        DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), **dict.fromkeys(TRANSPORT_SETTINGS, "")
    )
    development = settings_under(DEBUG="true")

    assert json.loads(production.stdout) == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": None,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "CLIENT_IP_HEADER": "REMOTE_ADDR",
    }
    assert json.loads(development.stdout) == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": None,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "CLIENT_IP_HEADER": "REMOTE_ADDR",
    }


def test_each_transport_setting_is_read_from_the_variable_of_the_same_name() -> None:
    result = settings_under(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="no",
        SECURE_HSTS_PRELOAD="yes",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="off",
        CLIENT_IP_HEADER="HTTP_X_REAL_IP",
    )

    assert json.loads(result.stdout) == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "CLIENT_IP_HEADER": "HTTP_X_REAL_IP",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECURE_SSL_REDIRECT", "sometimes"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO"),
        ("CLIENT_IP_HEADER", "X-Real-IP"),
        ("AXES_FAILURE_LIMIT", "0"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(name: str, value: str) -> None:
    result = settings_under(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), **{name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


def test_check_deploy_passes_without_a_warning_with_the_production_example() -> None:
    example = read_env_file(PRODUCTION_EXAMPLE)
    # The example leaves the key blank on purpose; a deployment generates its own, as this test does.
    assert example["SECRET_KEY"] == ""
    variables = example | {"SECRET_KEY": secrets.token_urlsafe(50)}

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=clean_environment(**variables),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr
