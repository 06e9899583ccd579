"""Production: refuses the embedded defaults and turns on the security flags (`check --deploy` clean)."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env

env("SECRET_KEY", required=True)
env("DATABASE_URL", required=True)
env("REDIS_URL", required=True)
env("ALLOWED_HOSTS", required=True)

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production, not SQLite.")

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env("SECURE_SSL_REDIRECT", True, cast=bool)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, cast=int)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
# Serve only what collectstatic wrote (with its .gz twins); finders would shadow them with the
# uncompressed originals. The image runs collectstatic at build time (deploy/Dockerfile).
WHITENOISE_USE_FINDERS = False
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env("EMAIL_PORT", 587, cast=int)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env("EMAIL_USE_TLS", True, cast=bool)
EMAIL_TIMEOUT = 10
