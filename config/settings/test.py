"""Test settings: real PostgreSQL and Redis on 127.0.0.1, a fast hasher, mail in memory.

Each checkout gets its own database and Redis key prefix (derived from its folder name), so
several work trees on one machine can run the suite at once.
"""

import os
import re

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from config.settings.base import *  # noqa: F403
from config.settings.base import BASE_DIR, DATABASES

_TREE = re.sub(r"[^a-z0-9_]", "_", BASE_DIR.name.lower())
DATABASES["default"]["NAME"] = os.environ.get("PRAETOR_TEST_DB_NAME", f"praetor_{_TREE}")
DATABASES["default"]["TEST"] = {"NAME": f"test_praetor_{_TREE}"}
DATABASES["default"]["CONN_MAX_AGE"] = 0
PRAETOR_REDIS_PREFIX = f"praetor-test-{_TREE}:"

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
ACCOUNT_RATE_LIMITS = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
