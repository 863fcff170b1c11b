"""Settings of the example host project.

HEALTHSYNC_DB picks the database: "sqlite" (the embedded default) or "postgres" (DATABASE_URL_POSTGRES,
default postgresql://postgres@127.0.0.1:5432/test). HEALTHSYNC_CACHE picks the cache used for sync leases:
"locmem"/"file" (embedded) or "redis" (REDIS_URL).
"""

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HEALTHSYNC_VAR_DIR", BASE_DIR.parent / "var"))
if "pytest" in sys.modules:  # tests keep their database files and cache apart from the demo's
    VAR_DIR = VAR_DIR / "test"
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "healthsync",
    "diary",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "example.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "example.wsgi.application"

if os.environ.get("HEALTHSYNC_DB", "sqlite") == "postgres":
    import dj_database_url

    DATABASES = {
        "default": dj_database_url.parse(
            os.environ.get("DATABASE_URL_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("HEALTHSYNC_SQLITE_PATH", str(VAR_DIR / "example.sqlite3")),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            # a file, not memory, so tests can sync from separate processes against the same database
            "TEST": {"NAME": os.environ.get("HEALTHSYNC_SQLITE_TEST_PATH", str(VAR_DIR / "test.sqlite3"))},
        }
    }

_cache = os.environ.get("HEALTHSYNC_CACHE", "file")
if _cache == "redis":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        }
    }
elif _cache == "locmem":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    # A file cache is shared by every process on the machine, so the sync lease holds across processes.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {"TITLE": "healthsync example API", "VERSION": "0.1.0"}

# healthsync: one dict. Partner origins point at the local emulators unless told otherwise.
EMULATOR_HOST = os.environ.get("HEALTHSYNC_EMULATOR_HOST", "http://127.0.0.1")
HEALTHSYNC = {
    "TOKEN_KEYS": [os.environ.get("HEALTHSYNC_TOKEN_KEY", "l6K0trVl56JOnrRslxpG2lq9Kf5YTBHi0riWESJJ0Jc=")],
    "PROVIDERS": {
        slug: {
            "client_id": "demo-client",
            "client_secret": "demo-secret",
            "origin": os.environ.get(f"HEALTHSYNC_{slug.upper()}_ORIGIN", f"{EMULATOR_HOST}:{port}"),
        }
        for slug, port in (("strava", 8701), ("withings", 8702), ("oura", 8703))
    },
}

# Structured JSON lines with tokens and personal data redacted (healthsync.logging); HEALTHSYNC_LOG_FORMAT=text
# gives plain lines, still redacted.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "healthsync.logging.JsonFormatter"}},
    "filters": {"redact": {"()": "healthsync.logging.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact"]}
        if os.environ.get("HEALTHSYNC_LOG_FORMAT") == "text"
        else {"class": "logging.StreamHandler", "formatter": "json"}
    },
    "loggers": {"healthsync": {"handlers": ["console"], "level": os.environ.get("HEALTHSYNC_LOG", "WARNING")}},
}
