"""Domain errors: what a rule refused, with a message id the edge renders politely."""

from __future__ import annotations

from typing import Any


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
