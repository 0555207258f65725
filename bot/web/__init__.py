"""The aiohttp server: webhook, click redirects, health."""
