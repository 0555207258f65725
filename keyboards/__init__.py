"""Pure keyboard builders and CallbackData factories."""
