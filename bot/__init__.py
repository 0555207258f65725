"""Affrace: a Telegram-native affiliate platform."""

from bot import _aiogram_types

_aiogram_types.load()  # before anything imports aiogram: its types' validators built lazily
