"""SmartBasket settings, read from the environment in one place.

Every variable is documented in `.env.example`. Bad values stop the process at start-up rather than
surfacing later as a confusing runtime error.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def envint(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envpair(name: str) -> tuple[str, str] | None:
    """A `NAME,VALUE` pair such as `HTTP_X_FORWARDED_PROTO,https`; unset or empty is None."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    parts = [item.strip() for item in raw.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ImproperlyConfigured(f"{name} must be two comma-separated values (HEADER,value), got {raw!r}")
    return parts[0], parts[1]


DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        # manage.py, gunicorn and celery read .env first (smartbasket/env.py): say where to put the key.
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set it in the environment or in .env "
            "('make demo' writes one; .env.example lists every variable), or set DEBUG=true for development"
        )
    # Only reachable with DEBUG on: a fixed development key keeps sessions valid across restarts.
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "health_check",
    "csp",
    "axes",
    "accounts",
    "vendors",
    "catalog",
    "orders",
    "recommendations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "smartbasket.request_log.RequestLogMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Must stay last: it turns a lockout flagged during authentication into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "smartbasket.urls"
WSGI_APPLICATION = "smartbasket.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# With no DATABASE_URL the demo runs on an embedded SQLite file so one command works on any laptop.
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            # The demo trains in a process of its own while gunicorn serves: in WAL mode readers never wait
            # for the writer; IMMEDIATE takes the write lock when a transaction begins, so a read that turns
            # into a write waits out the busy timeout instead of failing with "database is locked".
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
# Parallel test runs (several developers on one machine) each get their own test database.
_test_db_suffix = envstr("SMARTBASKET_TEST_DB_SUFFIX")
if _test_db_suffix and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": f"test_smartbasket_{_test_db_suffix}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
# The lockout check first: a locked-out client is refused before ModelBackend runs the password hash.
AUTHENTICATION_BACKENDS = [
    "accounts.login_protection.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Sessions live in the database so that a Redis outage never logs anybody out.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Transport security, Content-Security-Policy and login protection ---------------------------------------
# Each transport variable carries the name of the Django setting it sets. The defaults are the production
# values with DEBUG off and off with DEBUG on, where runserver speaks plain HTTP and HSTS would pin localhost
# to HTTPS.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers and the start script probe the health endpoint over plain HTTP on the internal network.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Preload is opt-in: once browsers ship the domain in their preload list it takes months to leave it, and the
# list covers the whole registrable domain, which this application does not own alone.
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
# Behind a TLS-terminating proxy, e.g. `HTTP_X_FORWARDED_PROTO,https`. Only set it when the proxy overwrites
# that header on every request; otherwise a client could claim HTTPS itself.
SECURE_PROXY_SSL_HEADER = envpair("SECURE_PROXY_SSL_HEADER")
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
# Leaving preload off is the decision above, not an oversight, so `check --deploy` must not warn about it
# (W021).
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# No inline scripts or styles anywhere (templates set bar widths from data- attributes in static/js/app.js,
# and htmx's injected indicator style is switched off in base.html), so the policy needs no 'unsafe-inline'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# Failed logins are counted per (username, client address): an attacker guessing a password from one client
# locks only that combination, so the real user signing in from their own address is never locked out.
# A second, much higher limit per address alone bounds password spraying (one address, many usernames), which
# the combination cannot see and which costs a PBKDF2 hash per guess. It is deliberately high because a whole
# shop, or a mobile carrier's NAT, can share one address; a per-address limit as low as the combination's
# would let one person's typos lock out everyone behind it. The lockout answer itself never hashes a password.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_ADDRESS_FAILURE_LIMIT = envint("AXES_ADDRESS_FAILURE_LIMIT", 100, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15, minimum=1))
# Axes records every successful sign-in (an audit trail); a nightly task keeps this many days of it.
AXES_ACCESS_LOG_DAYS = envint("AXES_ACCESS_LOG_DAYS", 90, minimum=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "accounts.login_protection.LoginProtectionHandler"
# Its start-up banner would open every manage.py command and worker log.
AXES_VERBOSE = False
# A successful login forgets that combination's failures; failures while locked do not extend the lockout, so
# the "try again at" time on the lockout page holds.
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.login_protection.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.login_protection.client_ip_address"
# The request.META key holding the client address: REMOTE_ADDR when clients connect directly; behind a proxy
# the header that proxy sets, e.g. HTTP_X_REAL_IP or HTTP_X_FORWARDED_FOR (its right-most entry is the one the
# proxy appended; entries to its left come from the client and are never trusted).
CLIENT_IP_HEADER = envstr("CLIENT_IP_HEADER") or "REMOTE_ADDR"
if not CLIENT_IP_HEADER.replace("_", "").isalnum() or not CLIENT_IP_HEADER.isupper():
    raise ImproperlyConfigured(
        f"CLIENT_IP_HEADER must be a request.META key such as HTTP_X_REAL_IP, got {CLIENT_IP_HEADER!r}"
    )

REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, reusing its Redis client between calls (smartbasket/cache.py).
            "BACKEND": "smartbasket.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Short timeouts: a Redis outage must degrade a page, never hang it.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis as broker; with no REDIS_URL tasks run in-process (the embedded demo).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"recommendations.tasks.*": {"queue": "recommendations"}}
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 30 * 60, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60, minimum=1)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Enqueueing from a web request must fail fast when Redis is down or hung instead of waiting or retrying:
# tasks go through the outbox (recommendations.outbox), which delivers later what a request could not.
# Without a socket timeout a publish to a Redis that accepts connections but never answers waits forever;
# with these a publish fails in about a second (measured: 1.2 s on a new connection, 1.0 s on a pooled one).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 1,
    # One attempt: a second one would double the wait, and the outbox retries anyway.
    "max_retries": 0,
}
# The worker's log lines name the request that queued the task (smartbasket/request_log.py, celery.py).
CELERY_WORKER_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [request_id=%(request_id)s] %(message)s"
)
CELERY_WORKER_TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [request_id=%(request_id)s] "
    "%(task_name)s[%(task_id)s]: %(message)s"
)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# The task outbox publishes again, with the same task id, a task no worker has completed this long after it
# was published (a Redis restarted without persistence forgot it, or a killed worker held it unacknowledged),
# doubling the delay at each further publish. Keep it longer than the time limit of the tasks that use it
# (a refresh: 90 s); a retrain declares its own, longer delay (recommendations/tasks.py).
OUTBOX_REDELIVER_SECONDS = envint("SMARTBASKET_OUTBOX_REDELIVER_SECONDS", 600, minimum=1)
# The precompute scores retailers in batches of this many and splits them into shards of so many batches,
# one Celery task each (recommendations/precompute.py). Both are recorded with each shard when a version's
# precompute is planned. A re-ranked row's stored score carries an offset taken over its batch, so another
# batch size changes those scores (never an order); the shard size changes nothing but how work is spread.
PRECOMPUTE_RETAILER_BATCH = envint("SMARTBASKET_PRECOMPUTE_RETAILER_BATCH", 500, minimum=1)
PRECOMPUTE_SHARD_BATCHES = envint("SMARTBASKET_PRECOMPUTE_SHARD_BATCHES", 2, minimum=1)

# E-mail (accounts/mail/): order confirmations and the weekly reorder digest, sent by Celery tasks. With
# EMAIL_HOST set, SMTP; without it (development, the demo) the console backend, which writes each mail to the
# log of the process that sends it. A deploy check warns when production has no EMAIL_HOST.
EMAIL_HOST = envstr("EMAIL_HOST")
EMAIL_PORT = envint("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True)
# A hung mail server must fail the task (which retries), not hold a worker for ever.
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_BACKEND = envstr("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
# Only read by Django's file backend (EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend).
EMAIL_FILE_PATH = envstr("EMAIL_FILE_PATH") or str(BASE_DIR / "var" / "mail")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL") or "SmartBasket <noreply@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Mails are read outside any request, so their links (the order, the dashboard, unsubscribe) need the site's
# own address.
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SITE_URL must start with http:// or https://, got {SITE_URL!r}")

# The mobile JSON API (smartbasket/api/): /api/v1/, documented at /api/v1/docs/ from the serializers.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_auth.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["smartbasket.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "smartbasket.api.pagination.PagePagination",
    "PAGE_SIZE": 25,
    "EXCEPTION_HANDLER": "smartbasket.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["smartbasket.api.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Per signed-in user on every endpoint: generous for an app, a wall for a runaway client.
        "user": envstr("API_THROTTLE_USER", "1200/min"),
        # The token endpoint, against password guessing: per (username, client address), so an attacker
        # elsewhere never locks the real user out, plus a looser cap per client address alone.
        "token_username": envstr("API_THROTTLE_TOKEN_USERNAME", "10/min"),
        "token_address": envstr("API_THROTTLE_TOKEN_ADDRESS", "60/min"),
        "anon": envstr("API_THROTTLE_ANON", "120/min"),
    },
    "NUM_PROXIES": None,
}
# Hostile bodies are refused before they are parsed: larger than this, or nested deeper (smartbasket/api).
API_MAX_BODY_BYTES = envint("API_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
API_MAX_JSON_DEPTH = envint("API_MAX_JSON_DEPTH", 8, minimum=2)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=envint("JWT_ACCESS_MINUTES", 10, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=envint("JWT_REFRESH_DAYS", 14, minimum=1)),
    # Every refresh returns a new refresh token and blacklists the old one: a stolen refresh token that is
    # used after its owner refreshed is a 401.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    # Access tokens carry a hash of the password: a password change ends them at once, not in 10 minutes.
    "CHECK_REVOKE_TOKEN": True,
    "REVOKE_TOKEN_CLAIM": "hash_password",
    "TOKEN_OBTAIN_SERIALIZER": "accounts.api_auth.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.api_auth.TokenRefreshSerializer",
    "TOKEN_BLACKLIST_SERIALIZER": "accounts.api_auth.TokenLogoutSerializer",
}
if SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] > timedelta(minutes=15):
    raise ImproperlyConfigured("JWT_ACCESS_MINUTES must be at most 15")

SPECTACULAR_SETTINGS = {
    "TITLE": "SmartBasket API",
    "DESCRIPTION": "The retailer's JSON API for mobile clients: catalogue, basket, orders, explained "
    "recommendations, next-item predictions and feedback. Sign in at `POST /api/v1/token/`, then send "
    '`Authorization: Bearer <access>`. Every error has the shape `{"error": {"code", "message", '
    '"fields"}}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "smartbasket.api.schema.add_error_responses",
    ],
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes and WhiteNoise serves from with DEBUG off.
STATIC_ROOT = Path(envstr("SMARTBASKET_STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Where trained model artifacts are written by the workers and read back by the web process.
ARTIFACTS_DIR = Path(envstr("SMARTBASKET_ARTIFACTS_DIR", str(BASE_DIR / "var" / "artifacts")))
# Real datasets live beside the project, never inside the repository.
DATASETS_DIR = Path(envstr("SMARTBASKET_DATASETS_DIR", str(BASE_DIR.parent / "shared" / "datasets")))

# Health endpoints (smartbasket/health.py): /health/ fails when the active model version is older than this.
MODEL_MAX_AGE_HOURS = envint("SMARTBASKET_MODEL_MAX_AGE_HOURS", 48, minimum=1)

# Every line names its request (`-` outside one); expected 403/404s are one line, 5xx keep their traceback.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "smartbasket.request_log.RequestIdFilter"},
        "client_error_without_traceback": {"()": "smartbasket.request_log.ClientErrorWithoutTraceback"},
    },
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": "line"},
    },
    "loggers": {"django.request": {"filters": ["client_error_without_traceback"]}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}
