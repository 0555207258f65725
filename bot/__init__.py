"""Affrace: a Telegram-native affiliate platform."""
