import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings, explain
from tests.stack import TOKEN

ROOT = Path(__file__).resolve().parents[2]


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_config_missing_token_says_what_to_set_and_where(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)

    with pytest.raises(ValidationError) as caught:
        settings()

    (line,) = explain(caught.value)
    assert line.startswith("BOT_TOKEN is not set")
    assert "@BotFather" in line


def test_run_without_token_stops_with_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}

    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "affrace: BOT_TOKEN is not set: create a bot with @BotFather in Telegram and put its "
        "token in .env as BOT_TOKEN=123456:ABC... (see .env.example)"
    ]
    assert not (tmp_path / "data").exists()  # nothing was created


def test_config_reports_each_bad_value() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(BOT_TOKEN="nope", ADMIN_IDS="12,abc", REDIS_URL="http://x", WEB_PORT=0)

    names = [line.split(" ")[0] for line in explain(caught.value)]
    assert sorted(names) == ["ADMIN_IDS", "BOT_TOKEN", "REDIS_URL", "WEB_PORT"]


def test_config_webhook_needs_a_secret() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET must be set"):
        settings(BOT_TOKEN=TOKEN, WEBHOOK_URL="https://bot.example/webhook")


def test_config_parses_admin_ids_and_defaults_to_sqlite() -> None:
    s = settings(BOT_TOKEN=TOKEN, ADMIN_IDS="1, 2;3", REDIS_URL="")

    assert frozenset({1, 2, 3}) == s.ADMIN_IDS
    assert s.DATABASE_URL.startswith("sqlite://")
    assert s.REDIS_URL is None
    assert not s.use_webhook


def test_every_setting_is_documented_in_env_example_and_the_readme() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    example = (root / ".env.example").read_text()
    readme = (root / "README.md").read_text()

    for name in Settings.model_fields:
        assert f"\n{name}=" in example or f"\n# {name}=" in example, name
        assert f"`{name}`" in readme, name


def test_a_malformed_token_is_explained_with_the_shape_it_must_have() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(BOT_TOKEN="123456:short")

    (line,) = explain(caught.value)
    assert line.startswith("BOT_TOKEN")
    assert "digits, a colon and 30-64 letters, digits, _ or -" in line


def test_library_chatter_is_debug_and_the_rest_keeps_its_level() -> None:
    import logging

    from loguru import logger

    from bot.logging import InterceptHandler

    seen: list[tuple[str, str]] = []
    sink = logger.add(lambda m: seen.append((m.record["level"].name, m.record["message"])))
    handler = InterceptHandler()
    try:
        for name, text in (
            ("aiogram.event", "Update id=5 is handled. Duration 3 ms by bot id=1"),
            ("apscheduler.scheduler", "Adding job tentatively -- it will be properly scheduled"),
            ("tortoise", "Tortoise-ORM shutdown"),
            ("aiogram.dispatcher", "Start polling"),
        ):
            handler.emit(logging.LogRecord(name, logging.INFO, __file__, 1, text, None, None))
    finally:
        logger.remove(sink)

    assert [level for level, _ in seen] == ["DEBUG", "DEBUG", "DEBUG", "INFO"]


def test_role_is_all_by_default_and_reads_a_comma_list() -> None:
    assert sorted(settings(BOT_TOKEN=TOKEN).ROLE) == ["bot", "scheduler", "web"]
    assert sorted(settings(BOT_TOKEN=TOKEN, ROLE="ALL").ROLE) == ["bot", "scheduler", "web"]
    two = settings(BOT_TOKEN=TOKEN, ROLE=" web , scheduler", REDIS_URL="redis://r:6379/0")
    assert sorted(two.ROLE) == ["scheduler", "web"]
    assert two.runs("web") and not two.runs("bot")


def test_a_role_that_does_not_exist_is_refused_with_the_choices() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(BOT_TOKEN=TOKEN, ROLE="web,worker", REDIS_URL="redis://r:6379/0")

    (line,) = explain(caught.value)
    assert line.startswith("ROLE ")
    assert "bot, web, scheduler" in line


def test_splitting_the_roles_needs_a_shared_redis() -> None:
    with pytest.raises(ValidationError, match="needs REDIS_URL"):
        settings(BOT_TOKEN=TOKEN, ROLE="web")


def test_run_role_flag_is_checked_like_the_setting(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env["BOT_TOKEN"] = TOKEN

    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--role", "cook"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stderr.startswith("affrace: ROLE ")
    assert not (tmp_path / "data").exists()
