"""Charts are drawn by a process of their own (bot/services/charts.py): the bot's process never
imports matplotlib, a chart that cannot be drawn is a ChartError (a polite word in the chat),
and a chart process that died or sat idle is started again by the next chart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.services.charts import Bucket, Chart, ChartError, ChartProcess

ROOT = Path(__file__).resolve().parents[2]
DAYS = [
    Bucket(datetime(2026, 12, 1, tzinfo=UTC) + timedelta(days=i), i, 100 * i) for i in range(7)
]


def test_the_bot_process_never_imports_matplotlib() -> None:
    code = "import sys, bot.process, bot.factory; print('matplotlib' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


async def test_charts_come_from_one_process_which_is_started_again_when_it_died() -> None:
    charts = ChartProcess()
    try:
        first = await charts.draw(Chart(DAYS, 2, ("Week", "Earnings, USD", "Conversions"), "ru"))
        process = charts._process
        assert process is not None
        second = await charts.draw(Chart(DAYS[:3], 2, ("Day", "E", "C"), "en", hourly=True))
        assert charts._process is process  # one process for every chart
        process.kill()
        await process.wait()
        third = await charts.draw(Chart(DAYS, 0, ("Week", "E", "C")))
        assert charts._process is not None and charts._process is not process
    finally:
        await charts.close()

    for png in (first, second, third):
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert first != second
    assert process.returncode is not None and charts._process is None


async def test_a_chart_that_cannot_be_drawn_is_an_error_and_the_next_one_is_drawn() -> None:
    charts = ChartProcess()
    try:
        with pytest.raises(ChartError):
            await charts.draw(Chart(DAYS, 2, ("Week", "E", "C"), locale="no_such_locale_at_all"))
        png = await charts.draw(Chart(DAYS, 2, ("Week", "E", "C")))
    finally:
        await charts.close()
    assert png.startswith(b"\x89PNG")


async def test_an_idle_chart_process_is_stopped_and_the_next_chart_starts_one() -> None:
    charts = ChartProcess(idle_seconds=0.2)
    try:
        await charts.draw(Chart(DAYS, 2, ("Week", "E", "C")))
        process = charts._process
        assert process is not None
        await asyncio.wait_for(process.wait(), 10)  # stopped once idle
        assert process.returncode == 0 and charts._process is None
        assert (await charts.draw(Chart(DAYS, 2, ("Week", "E", "C")))).startswith(b"\x89PNG")
    finally:
        await charts.close()


async def test_a_chart_cancelled_while_drawn_leaves_no_answer_for_the_next_one() -> None:
    charts = ChartProcess()
    try:
        await charts.draw(Chart(DAYS, 2, ("Week", "E", "C")))  # the process runs
        first = charts._process
        drawing = asyncio.create_task(charts.draw(Chart(DAYS * 20, 2, ("Long", "E", "C"))))
        await asyncio.sleep(0.01)  # asked, not answered yet
        drawing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await drawing
        png = await charts.draw(Chart(DAYS[:2], 2, ("Two days", "E", "C")))
        again = await charts.draw(Chart(DAYS[:2], 2, ("Two days", "E", "C")))
    finally:
        await charts.close()
    assert first is not None and first.returncode is not None  # the one asked was stopped
    assert png.startswith(b"\x89PNG")
    assert png == again  # the two days' chart, not the cancelled one's answer
