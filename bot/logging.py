"""loguru set-up: readable lines in a terminal, JSON lines in production."""

from __future__ import annotations

import inspect
import logging
import sys

from loguru import logger

# Libraries' INFO lines that say nothing an operator needs, demoted to DEBUG: aiogram's line
# per update, APScheduler's "Adding job tentatively" before it starts, tortoise's "shutdown"
# of the connections a migration opened.
DEMOTED = (
    ("aiogram.event", "Update id="),
    ("apscheduler.scheduler", "Adding job tentatively"),
    ("tortoise", "Tortoise-ORM shutdown"),
)


def demoted(record: logging.LogRecord) -> bool:
    if record.levelno != logging.INFO:
        return False
    message = str(record.msg)
    return any(
        record.name.startswith(name) and message.startswith(prefix) for name, prefix in DEMOTED
    )


class InterceptHandler(logging.Handler):
    """Send stdlib logging (aiogram, aiohttp, tortoise, apscheduler) through loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        level: str | int
        try:
            level = "DEBUG" if demoted(record) else logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = inspect.currentframe(), 0
        while frame and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def setup_logging(level: str = "INFO", json: bool = False) -> None:
    logger.remove()
    logger.add(sys.stderr, level=level, serialize=json, backtrace=False, diagnose=False)
    # The stdlib level follows ours: at level 0, aiosqlite formats a debug line per query.
    numeric = logging.getLevelName(level if level != "TRACE" else "DEBUG")
    logging.basicConfig(
        handlers=[InterceptHandler()],
        level=numeric if isinstance(numeric, int) else logging.INFO,
        force=True,
    )
    for name in ("aiohttp.access", "tortoise.db_client", "apscheduler.executors.default"):
        logging.getLogger(name).setLevel(logging.WARNING)
