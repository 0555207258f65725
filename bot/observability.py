"""Error reporting to Sentry when SENTRY_DSN is set (nothing is sent otherwise): errors
logged through loguru, and aiohttp's failed requests, with the release and the environment.
Breadcrumbs and the frames' local variables stay off: they would carry people's messages,
tokens and secrets."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings


def setup_sentry(settings: Settings) -> bool:
    """Start reporting; False when no DSN is set."""
    if settings.SENTRY_DSN is None:
        return False
    # Imported only with a DSN: the SDK and its integrations are memory of every process.
    import sentry_sdk
    from sentry_sdk.integrations.aiohttp import AioHttpIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.loguru import LoggingLevels, LoguruIntegration

    sentry_sdk.init(
        dsn=settings.SENTRY_DSN.get_secret_value(),
        environment=settings.SENTRY_ENVIRONMENT,
        release=f"affrace@{_version()}",
        # No user identity, cookies, bodies, query strings nor frames' locals: they hold
        # people's messages, tokens and secrets.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "stack_frame_variables": False,
        },
        max_breadcrumbs=0,
        traces_sample_rate=0.0,
        integrations=[
            AioHttpIntegration(),
            LoguruIntegration(event_level=LoggingLevels.ERROR.value, level=None),
        ],
        disabled_integrations=[LoggingIntegration()],  # loguru already routes the stdlib's
    )
    return True


def _version() -> str:
    try:
        return version("affrace")
    except PackageNotFoundError:
        return "unknown"
