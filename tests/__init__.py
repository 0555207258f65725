"""The tests. aiogram is loaded as `python -m bot` loads it (its types built on first use), before
any test module imports it."""

from bot import _aiogram_types

_aiogram_types.load()
