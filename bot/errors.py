"""Domain errors: what a rule refused, with a message id the edge renders politely."""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg
from aiogram.exceptions import AiogramError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tortoise.exceptions import DBConnectionError


def N_(message: str) -> str:
    """Marks a message id for extraction without translating it here."""
    return message


class DomainError(Exception):
    """A refusal a user can understand; `message` is a catalogue id, `params` fill it."""

    message = N_("Sorry, that did not work.")

    def __init__(self, message: str | None = None, **params: Any) -> None:
        if message is not None:
            self.message = message
        self.params = params
        super().__init__(self.message.format(**params) if params else self.message)


class NotFound(DomainError):
    message = N_("Nothing was found.")


class InvalidInput(DomainError):
    message = N_("That input is not valid.")


class Conflict(DomainError):
    message = N_("That already exists.")


class Banned(DomainError):
    message = N_("Your access to the programme is suspended.")


class Unavailable(Exception):
    """A dependency (the database or Redis) cannot be reached or did not answer in time."""

    def __init__(self, dependency: str, cause: BaseException | None = None) -> None:
        self.dependency = dependency
        super().__init__(f"{dependency} is unavailable" + (f": {cause!r}" if cause else ""))


# SQLite's own words for a file it cannot use right now (not for bad data).
_SQLITE_OUTAGE = ("locked", "disk", "unable to open", "readonly")


def outage(exc: BaseException) -> str | None:
    """Which dependency an error says is down or too slow ("database" or "redis"), or None
    when the error is about the data or the code instead. Looks through wrapped causes."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        error = stack.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, AiogramError):  # Telegram's side (its timeout is no database's)
            continue
        if isinstance(error, Unavailable):
            return error.dependency
        if isinstance(error, (RedisConnectionError, RedisTimeoutError)):
            return "redis"
        if isinstance(
            error,
            (
                DBConnectionError,
                asyncpg.PostgresConnectionError,
                asyncpg.exceptions.OperatorInterventionError,  # cancelled, shutting down
                asyncpg.exceptions.InsufficientResourcesError,  # disk full, too many clients
                asyncpg.InterfaceError,  # a connection that closed under us
                TimeoutError,
                ConnectionError,
            ),
        ) and not isinstance(error, ValueError):  # asyncpg: a bad argument, not an outage
            return "database"
        if isinstance(error, sqlite3.OperationalError) and any(
            word in str(error).lower() for word in _SQLITE_OUTAGE
        ):
            return "database"
        stack += [e for e in (error.__cause__, error.__context__) if e is not None]
        stack += [a for a in error.args if isinstance(a, BaseException)]
    return None
