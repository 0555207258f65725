"""Settings, read from the environment and `.env`, validated once at start."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.db import Timeouts
from bot.services.inputs import tg_id

# Whole-string patterns (fullmatch), ASCII only.
TOKEN_RE = re.compile(r"[0-9]{5,20}:[A-Za-z0-9_-]{30,64}")
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
SHORT_NAME_RE = re.compile(r"[A-Za-z0-9_]{3,30}")
HTTP_URL_RE = re.compile(r"https?://[^/\s]+\S*")
HTTPS_URL_RE = re.compile(r"https://[^/\s]+\S*")

# What a newcomer should do about each setting that fails validation.
HINTS: dict[str, str] = {
    "BOT_TOKEN": "create a bot with @BotFather in Telegram and put its token in .env as "
    "BOT_TOKEN=123456:ABC... (see .env.example)",
    "ADMIN_IDS": "a comma-separated list of numeric Telegram user ids, e.g. ADMIN_IDS=1234,5678",
    "DATABASE_URL": "sqlite://path/to/file.sqlite3 or postgres://user:pass@host:5432/dbname",
    "REDIS_URL": "redis://host:6379/0, or leave it unset to use the in-process stand-in",
    "PUBLIC_URL": "the https:// address where this server's /r/ links are reachable",
    "WEBHOOK_URL": "the full https:// address of POST /webhook, or unset for polling",
    "WEBHOOK_SECRET": "1-256 characters of A-Z a-z 0-9 _ - (required with WEBHOOK_URL)",
    "CHANNEL_PREFIX": "1-32 letters, digits, _ . or - naming this deployment's pub/sub channels",
    "BOT_API_URL": "the Bot API server's base URL, e.g. http://localhost:8081",
    "ROLE": "all, or one or more of bot, web, scheduler separated by commas, e.g. ROLE=web",
}

# What one process does (README, "Running more than one process"): `bot` takes Telegram's
# updates (the webhook, or polling: then only once), `web` serves the public HTTP (redirects,
# postbacks, the Mini App and its WebSockets), `scheduler` is a candidate for the scheduler
# lease (race ticks, the outbox, notices). "all" is the three in one process.
ROLES = frozenset({"bot", "web", "scheduler"})


class DatabaseSettings(BaseSettings):
    """What `python -m bot migrate` needs: only the database."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    DATABASE_URL: str = "sqlite://data/affrace.sqlite3"
    DB_CONNECT_TIMEOUT: float = Field(5.0, gt=0, le=120)
    DB_STATEMENT_TIMEOUT: float = Field(10.0, gt=0, le=3600)
    DB_ACQUIRE_TIMEOUT: float = Field(5.0, gt=0, le=120)

    @field_validator("DATABASE_URL")
    @classmethod
    def _db_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite:// or postgres://")
        return value

    @property
    def db_timeouts(self) -> Timeouts:
        return Timeouts(
            connect=self.DB_CONNECT_TIMEOUT,
            statement=self.DB_STATEMENT_TIMEOUT,
            acquire=self.DB_ACQUIRE_TIMEOUT,
        )


class Settings(DatabaseSettings):
    """Every knob of the application; see .env.example for what each one means."""

    BOT_TOKEN: SecretStr
    ADMIN_IDS: Annotated[frozenset[int], NoDecode] = frozenset()
    REDIS_URL: str | None = None
    REDIS_CONNECT_TIMEOUT: float = Field(2.0, gt=0, le=60)
    REDIS_TIMEOUT: float = Field(2.0, gt=0, le=60)
    UPDATE_RETRY_SECONDS: float = Field(60.0, ge=0, le=3600)
    DATA_DIR: str = "data"
    PUBLIC_URL: str = "http://localhost:8080"
    WEB_HOST: str = "0.0.0.0"
    WEB_PORT: int = Field(8080, ge=1, le=65535)
    WEBHOOK_URL: str | None = None
    WEBHOOK_SECRET: SecretStr | None = None
    BOT_API_URL: str = "https://api.telegram.org"
    MINIAPP_SHORT_NAME: str | None = None
    LOG_JSON: bool = False
    LOG_LEVEL: str = "INFO"
    THROTTLE_RATE: int = Field(5, ge=1, le=1000)
    REFERRAL_NOTIFY_DELAY: float = Field(10.0, ge=0, le=3600)
    TRUST_PROXY_HEADERS: bool = False
    RACE_TICK_SECONDS: int = Field(60, ge=5, le=3600)
    PAID_BROADCAST: bool = False
    RACE_NEWS_COOLDOWN: int = Field(300, ge=0, le=86400)
    FRAUD_MIN_CLICK_SECONDS: int = Field(10, ge=0, le=86400)
    PAYOUT_MINIMUM: Decimal = Field(Decimal("10"), gt=0, le=Decimal("1000000"))
    CLICK_SPOOL_DIR: str | None = None  # default: DATA_DIR/spool
    CLICK_SPOOL_FSYNC_MS: int = Field(100, ge=0, le=60_000)
    CLICK_LOADER_INTERVAL_MS: int = Field(200, ge=0, le=60_000)
    CLICK_SPOOL_BACKLOG_WARN: int = Field(100_000, ge=1)
    SHUTDOWN_DRAIN_SECONDS: float = Field(10.0, ge=0, le=600)
    ROLE: Annotated[frozenset[str], NoDecode] = ROLES
    LEASE_SECONDS: float = Field(30.0, ge=3, le=600)
    MINIAPP_AUTH_MAX_AGE: int = Field(86_400, ge=60, le=30 * 86_400)
    CHANNEL_PREFIX: str = Field("affrace", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    POSTBACK_LOG_PER_OFFER: int = Field(1000, ge=10, le=1_000_000)
    METRICS_TOKEN: SecretStr | None = None  # GET /metrics wants "Authorization: Bearer …"
    SENTRY_DSN: SecretStr | None = None  # errors reported to Sentry when set
    SENTRY_ENVIRONMENT: str = Field("production", max_length=64)

    @field_validator("BOT_TOKEN")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not TOKEN_RE.fullmatch(value.get_secret_value()):
            raise ValueError(
                "does not look like a bot token: expected digits, a colon and 30-64 letters, "
                "digits, _ or - (copy it again from @BotFather)"
            )
        return value

    @field_validator("ADMIN_IDS", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            ids = [tg_id(p) for p in parts]
            if None in ids:
                raise ValueError("must be numbers separated by commas")
            return frozenset(ids)
        return value

    @field_validator("ROLE", mode="before")
    @classmethod
    def _roles(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        words = {w.strip().lower() for w in value.split(",") if w.strip()}
        if words == {"all"}:
            return ROLES
        if not words or not words <= ROLES:
            raise ValueError("must be all, or one or more of bot, web, scheduler")
        return frozenset(words)

    @field_validator(
        "REDIS_URL",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "MINIAPP_SHORT_NAME",
        "CLICK_SPOOL_DIR",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("PUBLIC_URL", "BOT_API_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not HTTP_URL_RE.fullmatch(value):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("WEBHOOK_URL")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is not None and not HTTPS_URL_RE.fullmatch(value):
            raise ValueError("Telegram only calls https:// webhooks")
        return value

    @field_validator("MINIAPP_SHORT_NAME")
    @classmethod
    def _short_name(cls, value: str | None) -> str | None:
        if value is not None and not SHORT_NAME_RE.fullmatch(value):
            raise ValueError("must be the Mini App's short name from @BotFather (3-30 letters)")
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.WEBHOOK_URL and self.WEBHOOK_SECRET is None:
            raise ValueError("WEBHOOK_SECRET must be set when WEBHOOK_URL is set")
        if self.WEBHOOK_SECRET is not None and not SECRET_RE.fullmatch(
            self.WEBHOOK_SECRET.get_secret_value()
        ):
            raise ValueError("WEBHOOK_SECRET may only hold 1-256 of A-Z a-z 0-9 _ -")
        if self.ROLE != ROLES and self.REDIS_URL is None:
            raise ValueError(
                "ROLE other than all needs REDIS_URL: processes share their state through Redis"
            )
        return self

    @property
    def spool_dir(self) -> Path:
        return Path(self.CLICK_SPOOL_DIR or Path(self.DATA_DIR) / "spool")

    def runs(self, role: str) -> bool:
        """Whether this process plays `role` (bot, web or scheduler)."""
        return role in self.ROLE

    @property
    def use_webhook(self) -> bool:
        return self.WEBHOOK_URL is not None

    @property
    def miniapp_url(self) -> str | None:
        """Where Telegram opens the Mini App; None unless PUBLIC_URL is https (Telegram's rule)."""
        return f"{self.PUBLIC_URL}/app" if self.PUBLIC_URL.startswith("https://") else None

    @property
    def local_url(self) -> str:
        """This process's own HTTP server, from this machine (the admin's test postback)."""
        host = "127.0.0.1" if self.WEB_HOST in ("0.0.0.0", "", "::") else self.WEB_HOST
        return f"http://{host}:{self.WEB_PORT}"

    def is_admin(self, tg_id: int) -> bool:
        return tg_id in self.ADMIN_IDS


def explain(error: ValidationError) -> list[str]:
    """One plain line per bad or missing setting, with what to do about it."""
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        if item["type"] == "missing":
            problem = "is not set"
        else:
            problem = str(item["msg"]).removeprefix("Value error, ")
        hint = HINTS.get(name)
        lines.append(f"{name} {problem}" + (f": {hint}" if hint else ""))
    return lines
