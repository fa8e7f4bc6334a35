"""Settings for Rutterdash, read from the environment (see .env.example)."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file; ENV_FILE=/dev/null skips it.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))

INSECURE_KEY_PREFIX = "django-insecure"
DEV_SECRET_KEY = INSECURE_KEY_PREFIX + "-rutterdash-development-only"

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else "")

if not DEBUG and (not SECRET_KEY or SECRET_KEY.startswith(INSECURE_KEY_PREFIX)):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value when DEBUG is off."
    )

# Keys for encrypting stored secrets and for hashing tokens. A list allows
# rotation: the first key encrypts, every key decrypts.
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[SECRET_KEY])

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str(
    "SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}"
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "rutterdash",
    "accounts",
    "connections",
    "platforms",
    "webhooks",
    "customize",
    "link",
]

MIDDLEWARE = [
    "rutterdash.middleware.ApiRouteMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.DashboardContextMiddleware",
    "accounts.middleware.FriendlyRefusalMiddleware",
]

# The API's own chain (rutterdash.middleware): no session, CSRF, user or
# dashboard context, which Basic-authenticated JSON requests never use.
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# bench/api.py swaps in bench.bare_urls to time a bare view beside the API.
ROOT_URLCONF = env.str("ROOT_URLCONF", default="rutterdash.urls")
WSGI_APPLICATION = "rutterdash.wsgi.application"

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
                "accounts.context_processors.dashboard",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the task worker write to one file: WAL lets readers
    # carry on during a sync, IMMEDIATE avoids upgrade deadlocks.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Keep each worker's connection open between requests: setting one up
    # costs more than an API list call's queries. The health check replaces
    # a connection the server dropped before a request uses it.
    # ?conn_max_age= in DATABASE_URL still wins; 0 closes after each request.
    DATABASES["default"].setdefault(
        "CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=600)
    )
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool(
        "DATABASE_CONN_HEALTH_CHECKS", default=True
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared between the web server and the worker (sync progress lives here), so
# the default is on disk; point CACHE_URL at Redis when hosts are several.
CACHES = {
    "default": env.cache_url(
        "CACHE_URL", default=f"filecache://{BASE_DIR / 'var' / 'cache'}"
    )
}

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation." + name}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "sync", "webhooks"],
    }
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="rutterdash@localhost")

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# How many rows a dashboard list shows per page.
CONNECTIONS_PER_PAGE = env.int("CONNECTIONS_PER_PAGE", default=25)
# Failed sign-ins allowed per email before it is locked for a while.
SIGN_IN_MAX_FAILURES = env.int("SIGN_IN_MAX_FAILURES", default=10)
SIGN_IN_LOCKOUT_SECONDS = env.int("SIGN_IN_LOCKOUT_SECONDS", default=900)
# Invite links stop working after this many days.
INVITE_VALID_DAYS = env.int("INVITE_VALID_DAYS", default=7)
# Sandbox books: months of history and a multiplier for volume (benchmarks).
SANDBOX_MONTHS = env.int("SANDBOX_MONTHS", default=24)
SANDBOX_SCALE = env.float("SANDBOX_SCALE", default=1.0)
# A failed sync is retried this many times, with growing delays (seconds).
SYNC_RETRY_DELAYS = env.list("SYNC_RETRY_DELAYS", cast=int, default=[30, 300, 1800])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own default console handler (DEBUG only) printed each of
        # its records a second time beside the root's.
        "django": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        # One INFO line per webhook request is noise; failures are logged
        # by webhooks.delivery with the message's ids.
        "httpx": {"level": "WARNING"},
    },
}
# API requests each organisation may make per fixed window, across workers.
RATE_LIMIT_REQUESTS = env.int("RATE_LIMIT_REQUESTS", default=500)
RATE_LIMIT_WINDOW_SECONDS = env.int("RATE_LIMIT_WINDOW_SECONDS", default=10)
# Requests a worker takes from the shared count at once (PostgreSQL); a
# window's limit may refuse up to (workers - 1) * (this - 1) early.
RATE_LIMIT_LEASE = env.int("RATE_LIMIT_LEASE", default=16)
# Above 0, each worker writes its request-log rows in batches this many
# seconds apart (see rutterdash/api_requests.py for what a crash can lose);
# 0 writes each row as its request ends.
API_REQUEST_LOG_FLUSH_SECONDS = env.float("API_REQUEST_LOG_FLUSH_SECONDS", default=1)
# The API's per-request statement is prepared once per database connection
# (rutterdash/prepared.py); off for poolers that cannot keep them.
API_PREPARED_STATEMENTS = env.bool("API_PREPARED_STATEMENTS", default=True)
# Seconds at most a worker answers a repeated API call from the admission
# it kept, without a round trip (accounts/admission_cache.py); 0 keeps none.
API_ADMISSION_CACHE_SECONDS = env.float("API_ADMISSION_CACHE_SECONDS", default=5)

# Webhooks. Seconds to wait before each retry of a failed delivery: six
# retries over about a day by default, each stretched by up to 10% jitter.
WEBHOOK_RETRY_DELAYS = env.list(
    "WEBHOOK_RETRY_DELAYS", cast=int, default=[60, 300, 1800, 7200, 21600, 57600]
)
# Plain-HTTP destinations and destinations on private networks (loopback,
# RFC 1918, link-local, ...) are for local development only.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool(
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=DEBUG
)
# A destination failing without a single success for this long is disabled.
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=5 * 24 * 3600)
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
# Whole request, however slowly the receiver trickles its answer.
WEBHOOK_TOTAL_TIMEOUT = env.float("WEBHOOK_TOTAL_TIMEOUT", default=15.0)
# How long a rotated-out signing secret keeps signing beside the new one.
WEBHOOK_SIGNATURE_OVERLAP = env.int("WEBHOOK_SIGNATURE_OVERLAP", default=24 * 3600)
# Requests one worker task keeps on the wire at most. Each destination gets
# threads by its answer time (one for a receiver nearby, all of them for one
# 200 ms away); see webhooks.delivery.lanes.
WEBHOOK_CONCURRENCY = env.int("WEBHOOK_CONCURRENCY", default=16)
# Days settled webhook events (with their messages and attempts) are kept;
# 0 keeps them for ever.
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
# Finished background-task rows (syncs, webhook deliveries) are deleted
# after this many days by the webhooks sweep; 0 keeps them.
TASK_RESULT_RETENTION_DAYS = env.int("TASK_RESULT_RETENTION_DAYS", default=7)
# Link's OAuth sign-in: per-platform provider fields to replace (JSON keyed
# by platform code; tests aim a platform at a fake provider on loopback), and
# the time limit on each token request, in seconds.
OAUTH_PROVIDER_OVERRIDES = env.json("OAUTH_PROVIDER_OVERRIDES", default={})
OAUTH_HTTP_TIMEOUT = env.float("OAUTH_HTTP_TIMEOUT", default=10.0)
