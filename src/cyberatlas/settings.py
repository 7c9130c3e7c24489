"""Django settings. Everything a deployment changes comes from ``CYBERATLAS_*`` variables.

- ``CYBERATLAS_DATABASE_URL``: ``sqlite:///path`` or ``postgres://user:pass@host/db``;
  default an SQLite file under ``./var/``.
- ``CYBERATLAS_SECRET_KEY``: default a key generated once into ``./var/secret_key``.
- ``CYBERATLAS_DEBUG``: ``1`` for development.
- ``CYBERATLAS_ALLOWED_HOSTS``: comma-separated, default ``127.0.0.1,localhost``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
import django_stubs_ext

# Lets admin and queryset classes be subscripted at run time, as the type hints write them.
django_stubs_ext.monkeypatch()

VAR_DIR = Path(os.environ.get("CYBERATLAS_VAR_DIR", "var")).resolve()
PACKAGE_DIR = Path(__file__).resolve().parent
# Front-end libraries come from npm (`make install` runs `npm ci` in the checkout).
NODE_MODULES = Path(
    os.environ.get("CYBERATLAS_NODE_MODULES", PACKAGE_DIR.parent.parent / "node_modules")
)


def _secret_key() -> str:
    if key := os.environ.get("CYBERATLAS_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _database() -> dict[str, object]:
    url = os.environ.get("CYBERATLAS_DATABASE_URL")
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR_DIR / 'cyberatlas.sqlite3'}"
    config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers go on while an import writes; IMMEDIATE avoids lock upgrades failing.
        # A 128 MB page cache and memory-mapped reads keep large tables' random-key inserts
        # (UUID statement ids, STIX entity ids) and index look-ups off the disk path.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            # Seconds a request waits for another writer (an import) before a 503: writers.py.
            "timeout": float(os.environ.get("CYBERATLAS_SQLITE_WAIT", "20")),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA foreign_keys=ON; PRAGMA cache_size=-131072; PRAGMA mmap_size=268435456; "
            "PRAGMA temp_store=MEMORY;",
        }
        config["CONN_MAX_AGE"] = 0
    test_name = os.environ.get("CYBERATLAS_TEST_DATABASE_NAME")
    if not test_name and config["ENGINE"] != "django.db.backends.sqlite3":
        # One test database per run, so that two runs on one server never drop each other's.
        test_name = f"test_{config['NAME']}_{os.getpid()}"
    config["TEST"] = {"NAME": test_name}
    return config


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("CYBERATLAS_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("CYBERATLAS_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "cyberatlas.accounts",
    "cyberatlas.investigations",
    "cyberatlas.knowledge",
    "cyberatlas.interop",
    "cyberatlas.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cyberatlas.web.middleware.BusyDatabaseMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "cyberatlas.accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cyberatlas.urls"
WSGI_APPLICATION = "cyberatlas.wsgi.application"

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
                "cyberatlas.web.context.navigation",
            ],
        },
    },
]

DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "cyberatlas.accounts.backends.VettedModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Five failed logins lock the account (per username) for 30 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("CYBERATLAS_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.5
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Lockout is per account on purpose: attackers rotate addresses, a username stays put.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("CYBERATLAS_STATIC_ROOT") or None  # for collectstatic only
STATICFILES_DIRS = [
    (prefix, NODE_MODULES / path)
    for prefix, path in (("vendor/htmx", "htmx.org/dist"), ("vendor/pico", "@picocss/pico/css"))
    if (NODE_MODULES / path).is_dir()
]
# Static files are served by the application itself (WhiteNoise), straight from their folders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
OTP_TOTP_ISSUER = "cyberatlas"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"axes": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}
