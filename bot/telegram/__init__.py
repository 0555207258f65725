"""The Telegram edge beside the routers (handlers/) and keyboards (keyboards/): the
dispatcher, middlewares, filters, renderers, the notifier, race news and the paced sender.
Only this edge and the routers talk to Telegram."""
