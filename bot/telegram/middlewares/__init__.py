"""Per-update middlewares: user, i18n, throttling, bans."""
