"""All settings, read from environment variables with an embedded default for each.

No variable set = the embedded quick start (SQLite under var/, no Redis, DEBUG on).
Integrations live in their own modules, imported at the end.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from config.env import env, is_set

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(env("PRAETOR_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)
(DATA_DIR / "staticfiles").mkdir(exist_ok=True)


def _embedded_secret_key() -> str:
    """A per-installation dev secret kept under var/, so sessions survive restarts."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY") or _embedded_secret_key()
DEBUG = env("DEBUG", not is_set("DATABASE_URL"), cast=bool)
ALLOWED_HOSTS = env("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"], cast=list)
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS", [], cast=list)
SITE_URL = env("PRAETOR_SITE_URL", "http://127.0.0.1:8000")
PRAETOR_INVITATION_TTL_DAYS = env("PRAETOR_INVITATION_TTL_DAYS", 7, cast=int)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "allauth",
    "allauth.account",
    "channels",
    "apps.core",
    "apps.identity",
    "apps.organizations",
    "apps.workspaces",
    "apps.access",
    "apps.audit",
    "apps.billing",
    "apps.ratelimit",
    "apps.engine",
    "apps.web",
]

# The Browser* entries are Django's own middleware, passed by for API requests that carry a
# bearer API key (apps/core/middleware.py): those never use a session, a CSRF token or messages.
MIDDLEWARE = [
    # The plain case of the hottest API requests is answered here, with the effects of the chain below it
    # (apps/core/lean_middleware.py: it removes itself if this list changes).
    "apps.core.lean_middleware.LeanRouteMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.audit.context.AuditContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "apps.core.middleware.BrowserCsrfViewMiddleware",
    "apps.core.middleware.BrowserAuthenticationMiddleware",
    "apps.core.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.ratelimit.middleware.RateLimitMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# Database: PostgreSQL when DATABASE_URL is set, else the embedded SQLite file.
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'praetor.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env("DB_CONN_MAX_AGE", 60, cast=int))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web, worker and beat processes share the file; the timeout rides out writers.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# Prepare the hot fixed-shape statements of apps/core/prepared.py on each connection (bound on the server,
# parsed and planned once per connection). Turn off behind a pooler that cannot keep prepared statements
# across transactions (pgbouncer in transaction mode before 1.21, or with max_prepared_statements = 0).
PRAETOR_DB_PREPARE = env("PRAETOR_DB_PREPARE", True, cast=bool)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Threads per web process that run HTTP requests (config/http_threads.py); each keeps one database
# connection, so PostgreSQL sees at most WEB_CONCURRENCY x (PRAETOR_WEB_THREADS + PRAETOR_WEB_POLL_THREADS)
# of them from the web.
PRAETOR_WEB_THREADS = env("PRAETOR_WEB_THREADS", 4, cast=int)
# Threads per web process that serve only polls (workers' get_scheduled_flow_runs and heartbeats, agents'
# get_runs), so a poll never queues behind a burst of writes; each keeps a connection too. 0: no own lane.
PRAETOR_WEB_POLL_THREADS = env("PRAETOR_WEB_POLL_THREADS", 1, cast=int)
# The largest request body the web process reads (413 above it). The prefect client's log batches reach
# 4,000,000 bytes (PREFECT_LOGGING_TO_API_BATCH_SIZE); deployments and block documents stay far below.
PRAETOR_MAX_REQUEST_BYTES = env("PRAETOR_MAX_REQUEST_BYTES", 16 * 1024 * 1024, cast=int)
# Seconds a process may reuse who an API key is and what it may do in a workspace without asking the
# database (apps/core/authcache.py); changes made through the services are seen within about 1 s.
PRAETOR_AUTH_CACHE_SECONDS = env("PRAETOR_AUTH_CACHE_SECONDS", 5.0, cast=float)
# The hottest endpoints (POST task_runs/, task_runs/{id}/set_state, logs/, flow_runs/, flow_runs/filter,
# flow_runs/{id}/set_state; GET task_runs/{id}, flow_runs/{id}; the workers' poll and heartbeat) dispatch the
# plain case without DRF's APIView machinery (apps/core/api/lean.py), most also without the rest of the
# middleware chain (apps/core/lean_middleware.py); off = the full chain and DRF's dispatch for every request.
PRAETOR_LEAN_VIEWS = env("PRAETOR_LEAN_VIEWS", True, cast=bool)
# A task run set_state decides from this process's copy of the run and its flow run when it has one, and
# writes with a compare-and-swap on both runs' state ids: one statement instead of a read and a write
# (apps/engine/services/task_run_state_cache.py); off = always read first.
PRAETOR_SET_STATE_CACHE = env("PRAETOR_SET_STATE_CACHE", True, cast=bool)
# Benchmarks only: count that cache's hits and misses per process (bench/client_mix.py reports them).
PRAETOR_SET_STATE_CACHE_STATS = env("PRAETOR_SET_STATE_CACHE_STATS", "")

REDIS_URL = env("REDIS_URL", "")
if REDIS_URL:
    # Django's RedisCache, its redis.Redis client kept per pool (apps/core/cache.py)
    CACHES = {"default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    # The embedded quick start's web, worker and beat processes share one cache through the
    # database (a per-process cache would let them disagree); `make run` creates its table.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "praetor_cache"}}

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = DATA_DIR / "mail"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Praetor <noreply@localhost>")

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "web:home"

from config.settings.allauth import *  # noqa: E402,F403
from config.settings.blocks import *  # noqa: E402,F403
from config.settings.celery import *  # noqa: E402,F403
from config.settings.logging import *  # noqa: E402,F403
from config.settings.orchestration import *  # noqa: E402,F403
from config.settings.ratelimit import *  # noqa: E402,F403
from config.settings.rest import *  # noqa: E402,F403
from config.settings.stripe import *  # noqa: E402,F403
