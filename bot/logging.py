"""loguru set-up: readable lines in a terminal, JSON lines in production."""

from __future__ import annotations

import inspect
import logging
import sys

from loguru import logger


class InterceptHandler(logging.Handler):
    """Send stdlib logging (aiogram, aiohttp, tortoise, apscheduler) through loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        level: str | int
        try:
            level = logger.level(record.levelname).name
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
