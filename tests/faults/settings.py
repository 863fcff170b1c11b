"""Settings of the worker and tick processes that the fault tests start: the example project's, pointed at
the test database (DATABASE_URL_POSTGRES), the test Redis database (REDIS_URL) and the test's emulators
(HEALTHSYNC_OVERRIDES, a JSON object merged into HEALTHSYNC)."""

import json
import os

import dj_database_url
from example.settings import *  # noqa: F403
from example.settings import HEALTHSYNC as _BASE

DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL_POSTGRES"])}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}}
HEALTHSYNC = {**_BASE, **json.loads(os.environ.get("HEALTHSYNC_OVERRIDES", "{}"))}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"healthsync": {"handlers": ["console"], "level": "INFO"}},
}
