"""Settings, all from the environment, with safe local defaults.

Embedded defaults (no variable set): SQLite in ``var/`` and the Redis that ``make run``
starts on a unix socket in ``var/``. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL
and a real Redis. A setting that is present but broken stops the process with its name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

# Lets runtime code write ModelAdmin[Plant], Serializer[...] as the type checker reads them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def setting(name: str, parse: Callable[[str], T], default: T) -> T:
    """An environment variable, parsed; a bad value stops start-up with a message naming it."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except (ValueError, ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not valid: {exc}") from None


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("use true or false")


def number_between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def comma_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return raw


SUPPORTED_DATABASES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")


def database_url(raw: str) -> dict[str, Any]:
    try:
        config = dict(environ.Env.db_url_config(raw))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unsupported database URL ({exc}); use postgres://… or sqlite:///…") from None
    if config["ENGINE"] not in SUPPORTED_DATABASES:
        raise ValueError("unsupported database URL; use postgres://… or sqlite:///…")
    return config


VAR_DIR = setting("KSEM_VAR_DIR", lambda raw: Path(raw).resolve(), (BASE_DIR / "var").resolve())
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = setting("DJANGO_DEBUG", boolean, False)
PRODUCTION = setting("KSEM_PRODUCTION", boolean, False)
SECRET_KEY = setting("DJANGO_SECRET_KEY", str, "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when KSEM_PRODUCTION is on")
    # A local installation keeps its own random key in var/, created once.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        from django.core.management.utils import get_random_secret_key

        key_file.write_text(get_random_secret_key())
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = setting("DJANGO_ALLOWED_HOSTS", comma_list, ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = setting("DJANGO_CSRF_TRUSTED_ORIGINS", comma_list, [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "plant",
    "meter",
    "inverters",
    "modbus",
    "wallbox",
    "tariffs",
    "smartgrid",
    # The event log and its e-mail (DEV-3): below the apps that record events.
    "events",
    "forecast",
    "portal",
    "access",
    # MQTT and Home Assistant (manage.py serve_mqtt): above the plant, beside the site.
    "integrations",
    # The solar-portal uplink (SP-1) and the built-in portal that receives it: beside integrations.
    "solarportal",
    # System information, network and time, restart, factory reset, logs (docs/device.md).
    "device",
    # Software updates and the product version (DEV-4): a device app.
    "updates",
    # The replay and the simulated first start (bootstrap_simulated): above product and simulator.
    "replay",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # CSP with a per-request nonce, no-store for logged-in data, 400 for a bad query parameter.
    "ksem_site.security.SecurityHeadersMiddleware",
    # Bodies over the route's cap are 413 before sessions or CSRF read a byte (access/limits.py).
    "access.limits.BodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # /api/… without its trailing slash is served, not redirected (access/middleware.py).
    "access.middleware.ApiCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Two-factor login (ACC-1): who verified a code, then every request of an enrolled user needs it.
    "django_otp.middleware.OTPMiddleware",
    "portal.middleware.VerifiedSessionMiddleware",
    # An admin access token in `Authorization: Bearer` opens the pages as its installer (ACC-5).
    "access.middleware.BearerTokenMiddleware",
    # Pages render times in the plant's time zone (the API stays in UTC).
    "plant.middleware.PlantTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ksem_site.urls"
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
                "django.template.context_processors.i18n",
                "plant.context_processors.device_status",
                "updates.context_processors.product_version",
            ],
        },
    },
]
ASGI_APPLICATION = "ksem_site.asgi.application"

# --- database -------------------------------------------------------------------------------
DATABASES = {
    "default": setting("DATABASE_URL", database_url, database_url(f"sqlite:///{VAR_DIR / 'db.sqlite3'}")),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE avoids lock upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: broker, channel layer, latest values --------------------------------------------
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
REDIS_EMBEDDED = not os.environ.get("REDIS_URL")
REDIS_URL = setting("REDIS_URL", redis_url, f"unix://{EMBEDDED_REDIS_SOCKET}")
REDIS_KEY_PREFIX = setting("KSEM_REDIS_PREFIX", str, "ksem")


def _celery_broker(url: str) -> str:
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


CELERY_BROKER_URL = _celery_broker(REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"plant.tasks.run_cycle": {"queue": "realtime"}, "plant.tasks.tick": {"queue": "realtime"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
CELERY_TIMEZONE = "UTC"
CYCLE_INTERVAL_S = setting("KSEM_CYCLE_INTERVAL_S", number_between(0.2, 60.0), 1.0)
CELERY_BEAT_SCHEDULE = {
    # expires: a tick that could not start within its own interval is dropped, not piled up.
    "plant cycle tick": {
        "task": "plant.tasks.tick",
        "schedule": CYCLE_INTERVAL_S,
        "options": {"expires": CYCLE_INTERVAL_S, "queue": "realtime"},
    },
    # Retention (docs/operations.md, "Data kept"): plant by plant in small batches, on the default queue.
    "purge old meter logs": {"task": "meter.tasks.purge_old_logs", "schedule": 3600.0, "options": {"queue": "default"}},
    "purge old events": {"task": "events.tasks.purge_old_events", "schedule": 3600.0, "options": {"queue": "default"}},
    # Event mails still waiting after a broker outage are queued again (DEV-3).
    "waiting event mails": {
        "task": "events.tasks.send_waiting_mails",
        "schedule": 300.0,
        "options": {"queue": "default"},
    },
    # Device info for inverters that have none (bootstrapped, shipped, last read failed): INV-2.
    "inverter device info": {
        "task": "inverters.tasks.read_missing_info",
        "schedule": 30.0,
        "options": {"expires": 30.0, "queue": "default"},
    },
    # SP-1: queue each completed 15-minute interval's report, hand due outboxes to the default queue.
    "solar portal uplink": {
        "task": "solarportal.tasks.tick",
        "schedule": 60.0,
        "options": {"expires": 60.0, "queue": "default"},
    },
    # The PV and house-load forecast of every active plant (forecast/, docs/forecast.md).
    "forecast": {
        "task": "forecast.tasks.recompute_forecasts",
        "schedule": 900.0,
        "options": {"expires": 900.0, "queue": "default"},
    },
}
# Software updates (DEV-4, docs/updates.md): the source checked by beat, how often, the vendor's public key.
KSEM_UPDATE_URL = setting("KSEM_UPDATE_URL", str, "")
KSEM_UPDATE_CHECK_S = setting("KSEM_UPDATE_CHECK_S", number_between(60.0, 7 * 86400.0), 6 * 3600.0)
KSEM_UPDATE_PUBLIC_KEY = setting(
    "KSEM_UPDATE_PUBLIC_KEY", lambda raw: Path(raw).resolve(), BASE_DIR / "updates" / "keys" / "update-signing.pub.pem"
)
CELERY_BEAT_SCHEDULE["update check"] = {
    "task": "updates.tasks.check_for_updates",
    "schedule": KSEM_UPDATE_CHECK_S,
    "options": {"expires": KSEM_UPDATE_CHECK_S, "queue": "default"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Only the beat holding the leader lock in Redis sends (plant/beat.py): a second beat is harmless.
CELERY_BEAT_SCHEDULER = "plant.beat:LeaderScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}:ws"},
    }
}

# --- auth, i18n, static ---------------------------------------------------------------------
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "plant:dashboard"
LOGOUT_REDIRECT_URL = "portal:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "portal.passwords.MixedCaseValidator"},
]
# Every password check goes through this guard (portal/guard.py): per client address and per account.
AUTHENTICATION_BACKENDS = ["portal.backends.GuardedModelBackend"]
LOGIN_FAILURES_ALLOWED = 10  # per client address, then that address waits LOGIN_LOCKOUT_S
LOGIN_LOCKOUT_S = 15 * 60
# Per account no lock: after this many failures from anywhere, checks of the account are spaced
# 1 s, 2 s, 4 s ... up to the maximum; addresses it logged in from before are not slowed.
LOGIN_ACCOUNT_FAILURES_FREE = 10
LOGIN_ACCOUNT_DELAY_FIRST_S = 1
LOGIN_ACCOUNT_DELAY_MAX_S = 60
LOGIN_KNOWN_ADDRESS_DAYS = 90
# The vendor's key for activation codes (ACT-1, docs/operations.md): from the environment only.
KSEM_ACTIVATION_KEY = setting("KSEM_ACTIVATION_KEY", str, "")
# The article number the solar-portal uplink reports (SP-1, docs/solarportal.md); ours by default.
KSEM_ARTICLE_NUMBER = setting("KSEM_ARTICLE_NUMBER", str, "EMG2-0001")


def ip_networks(raw: str) -> list[str]:
    import ipaddress

    return [str(ipaddress.ip_network(item, strict=False)) for item in comma_list(raw)]


# Reverse proxies whose X-Forwarded-For is believed (addresses or networks); none by default.
KSEM_TRUSTED_PROXIES: list[str] = setting("KSEM_TRUSTED_PROXIES", ip_networks, [])
OTP_TOTP_ISSUER = "KSEM energy manager"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Production cookies travel over HTTPS only (the web interface on KSEM_HTTPS_PORT).
SESSION_COOKIE_SECURE = setting("KSEM_SECURE_COOKIES", boolean, PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
# English dates with the 24-hour clock (ksem_site/formats/en).
FORMAT_MODULE_PATH = ["ksem_site.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns at every start about a missing one
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# The JSON API (ACC-2, ACC-3; docs/api.md): bearer tokens or the session, one permission rule,
# every list paged, /api/v1/ canonical with the unversioned paths as aliases.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.ApiAccess"],
    "DEFAULT_PAGINATION_CLASS": "access.rest.Pagination",
    # JSON nested at most 32 deep; Redis not answering is 503 + Retry-After (issue 14 parts 3, 4).
    "DEFAULT_PARSER_CLASSES": [
        "access.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "access.rest.exception_handler",
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.NamespaceVersioning",
    "DEFAULT_VERSION": "v1",
    "ALLOWED_VERSIONS": ["v1"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "KSEM energy manager API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Authenticate with `Authorization: Bearer <access token>` (or a logged-in session). "
    "Errors are JSON and name the field; lists are paged with `limit`/`offset`. See docs/api.md.",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}},
    "PREPROCESSING_HOOKS": ["access.rest.only_versioned_paths"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "access.rest.document_errors"],
    # The RS485 interfaces A and B, named once for the inverters and the Modbus settings alike.
    "ENUM_NAME_OVERRIDES": {
        "Rs485InterfaceEnum": "inverters.models.Inverter.Interface",
        "ChargingModeEnum": "wallbox.models.Wallbox.Mode",
        "SerialInterfaceModeEnum": "modbus.models.SerialInterface.Mode",
    },
}

# --- product --------------------------------------------------------------------------------
HEALTH_MAX_AGE_S = setting("KSEM_HEALTH_MAX_AGE_S", number_between(1.0, 3600.0), 5.0)


def tcp_port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError("must be a port between 1 and 65535")
    return value


# The web interface and API over HTTPS (`python -m ksem_site.https_server`, ksem_site.certificates):
# a certificate generated on first start in var/https/, or one the installer uploaded.
HTTPS_PORT = setting("KSEM_HTTPS_PORT", tcp_port, 8443)
HTTPS_DIR = setting("KSEM_HTTPS_DIR", lambda raw: Path(raw).resolve(), VAR_DIR / "https")

# The Modbus slave (`manage.py serve_modbus`): plain TCP and TLS ports, RS485 A/B serial devices.
MODBUS_PORT = setting("KSEM_MODBUS_PORT", tcp_port, 5020)
MODBUS_TLS_PORT = setting("KSEM_MODBUS_TLS_PORT", tcp_port, 8020)


# The EEBus service (`manage.py serve_eebus`, smartgrid/eebus/): each plant's SHIP certificate and key
# in KSEM_EEBUS_DIR/plant-<id>/ (created once, never changing: its SKI is registered at the grid
# operator); the first plant's SHIP server on KSEM_EEBUS_PORT, the next ones on the ports after it,
# listening on KSEM_EEBUS_HOST (127.0.0.1 here, mDNS on loopback only; 0.0.0.0 on a device).
EEBUS_DIR = setting("KSEM_EEBUS_DIR", lambda raw: Path(raw).resolve(), VAR_DIR / "eebus")
EEBUS_PORT = setting("KSEM_EEBUS_PORT", tcp_port, 4711)
EEBUS_HOST = os.environ.get("KSEM_EEBUS_HOST") or "127.0.0.1"
EEBUS_MDNS = setting("KSEM_EEBUS_MDNS", boolean, True)


# Who may hold the Modbus TCP/TLS ports, and for how long (modbus.slave.tcp.ConnectionLimits).
def whole_number_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be a whole number between {low} and {high}")
        return value

    return parse


MODBUS_MAX_CONNECTIONS = setting("KSEM_MODBUS_MAX_CONNECTIONS", whole_number_between(2, 1024), 64)
MODBUS_MAX_PER_ADDRESS = setting("KSEM_MODBUS_MAX_PER_ADDRESS", whole_number_between(1, 1023), 16)
if MODBUS_MAX_PER_ADDRESS >= MODBUS_MAX_CONNECTIONS:
    raise ImproperlyConfigured(
        f"KSEM_MODBUS_MAX_PER_ADDRESS={MODBUS_MAX_PER_ADDRESS} is not valid: "
        f"must be below KSEM_MODBUS_MAX_CONNECTIONS ({MODBUS_MAX_CONNECTIONS})"
    )
MODBUS_IDLE_TIMEOUT_S = setting("KSEM_MODBUS_IDLE_TIMEOUT_S", number_between(0.1, 86400.0), 60.0)
MODBUS_REQUEST_TIMEOUT_S = setting("KSEM_MODBUS_REQUEST_TIMEOUT_S", number_between(0.1, 3600.0), 5.0)


# The MQTT bridge (`manage.py serve_mqtt`, docs/mqtt.md): mqtt://host:port switches publishing on
# with discovery and the prefix ksem until the MQTT page saves its own settings.
def mqtt_url(raw: str) -> str:
    from integrations.config import parse_url

    parse_url(raw)  # raises ValueError naming the problem
    return raw.strip()


MQTT_URL = setting("KSEM_MQTT_URL", mqtt_url, "")
RS485_A_DEVICE = setting("KSEM_RS485_A", str, "")
RS485_B_DEVICE = setting("KSEM_RS485_B", str, "")
METER_LOG_RETENTION_DAYS = 14
ENERGY_LOG_RETENTION_DAYS = 2 * 366 + 1

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": setting("KSEM_LOG_LEVEL", str.upper, "INFO")},
    "loggers": {"pymodbus": {"level": "CRITICAL"}, "django.channels.server": {"level": "WARNING"}},
}
# Under supervisord (KSEM_PROCESS) each process also logs to <var>/log/<process>.log for the
# device page's log download (device/logfiles.py, docs/device.md).
if os.environ.get("KSEM_PROCESS"):
    LOGGING["handlers"]["file"] = {  # type: ignore[index]
        "()": "device.logfiles.process_handler",
        "process": os.environ["KSEM_PROCESS"],
        "var_dir": str(VAR_DIR),
    }
    LOGGING["root"]["handlers"].append("file")  # type: ignore[index]
