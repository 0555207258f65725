"""The deployment files as far as this machine can check them: the systemd units verified by
systemd-analyze (pointed at this checkout), the compose file parsed and consistent with the
bot's settings, the production settings accepted by the bot's own validation. No container
runtime or proxy runs here: the Dockerfile, the Caddyfile and nginx.conf are not executed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("affrace.service", "affrace@.service", "affrace-backup.service", "affrace-backup.timer")


def test_the_systemd_units_verify_when_installed_over_this_checkout(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian's systemd package provides it)")
    for name in UNITS:  # /opt/affrace is where they expect the code: here, this checkout
        text = (DEPLOY / name).read_text().replace("/opt/affrace", str(ROOT))
        (tmp_path / name).write_text(text)

    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_the_unit_gives_the_clean_stop_its_time() -> None:
    unit = (DEPLOY / "affrace.service").read_text()
    stop = int(unit.split("TimeoutStopSec=")[1].split()[0])

    assert "ExecStart=/opt/affrace/.venv/bin/python -m bot run" in unit
    assert "KillSignal=SIGTERM" in unit and "Restart=always" in unit
    assert stop > Settings.model_fields["SHUTDOWN_DRAIN_SECONDS"].default + 10


def test_the_per_role_unit_runs_each_instance_with_its_own_role_port_and_spool() -> None:
    unit = (DEPLOY / "affrace@.service").read_text()
    files = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("Env")]
    stop = int(unit.split("TimeoutStopSec=")[1].split()[0])

    assert "ExecStart=/opt/affrace/.venv/bin/python -m bot run\n" in unit  # ROLE from its file
    # the shared settings, then the instance's own (ROLE, WEB_PORT), which win
    assert files == [
        "/etc/affrace/affrace.env",
        "/etc/affrace/%i.env",
        "DATA_DIR=/var/lib/affrace/%i",
    ]
    assert "StateDirectory=affrace/%i" in unit and "ReadWritePaths=/var/lib/affrace/%i" in unit
    assert stop > Settings.model_fields["SHUTDOWN_DRAIN_SECONDS"].default + 10
    for role in ("ROLE=web", "ROLE=bot", "ROLE=scheduler"):
        assert role in unit  # the comment shows each instance file


def test_the_compose_file_wires_postgres_redis_the_bot_and_the_proxy() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    bot = services["affrace"]

    assert set(services) == {"postgres", "redis", "affrace", "caddy"}
    assert bot["environment"]["DATABASE_URL"].startswith("postgres://affrace:")
    assert "@postgres:5432/" in bot["environment"]["DATABASE_URL"]
    assert bot["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert int(bot["stop_grace_period"].rstrip("s")) >= 30
    assert bot["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / bot["build"]["dockerfile"]).is_file()
    assert services["caddy"]["environment"]["UPSTREAM"] == "affrace:8080"
    assert "{$UPSTREAM:" in (DEPLOY / "Caddyfile").read_text()


def test_the_production_settings_are_accepted_by_the_bot() -> None:
    values = {k: v for k, v in dotenv_values(DEPLOY / "production.env").items() if v is not None}

    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]

    assert settings.use_webhook and settings.PUBLIC_URL.startswith("https://")
    assert settings.TRUST_PROXY_HEADERS and settings.LOG_JSON
    assert settings.METRICS_TOKEN is not None
