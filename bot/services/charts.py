"""Stats charts, drawn in a process of their own.

matplotlib (with numpy and Pillow) is about 40 MB that most processes never use, its import
holds the event loop for tens of milliseconds wherever it runs, and drawing a chart holds the
interpreter for a tenth of a second. So the bot process never imports it: the first chart
starts `python -m bot.services.charts`, which reads one request per line on its stdin (JSON)
and answers each with the PNG's length and bytes on its stdout; it is stopped after
IDLE_SECONDS without a chart and started again by the next one. The event loop only waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import sys
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any

from babel.dates import format_skeleton
from loguru import logger

IDLE_SECONDS = 600.0  # without a chart, the chart process is stopped (its memory returned)
START_SECONDS = 30.0  # the most a chart waits for the process to start and answer
LENGTH = struct.Struct(">I")  # a PNG's length before its bytes; 0: the request failed


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bar of the chart: an hour or a day."""

    start: datetime
    conversions: int
    earnings_minor: int


ChartLabels = tuple[str, str, str]  # the title, the earnings axis, the conversions axis


class ChartError(Exception):
    """The chart process could not draw this chart."""


@dataclass(frozen=True, slots=True)
class Chart:
    """What one chart shows: its bars, the currency's precision, its texts, how dates read."""

    buckets: list[Bucket]
    currency_precision: int
    labels: ChartLabels
    locale: str = "en"
    hourly: bool = False

    def line(self) -> bytes:
        """The chart as a line of the chart process's input."""
        body = {
            "buckets": [
                [b.start.isoformat(), b.conversions, b.earnings_minor] for b in self.buckets
            ],
            "precision": self.currency_precision,
            "labels": list(self.labels),
            "locale": self.locale,
            "hourly": self.hourly,
        }
        return json.dumps(body, ensure_ascii=True).encode() + b"\n"

    @classmethod
    def read(cls, line: bytes) -> Chart:
        """A line of the chart process's input back as a chart."""
        body: dict[str, Any] = json.loads(line)
        title, earnings, conversions = body["labels"]
        return cls(
            [Bucket(datetime.fromisoformat(at), n, m) for at, n, m in body["buckets"]],
            int(body["precision"]),
            (str(title), str(earnings), str(conversions)),
            str(body["locale"]),
            bool(body["hourly"]),
        )


class ChartProcess:
    """The bot's side of the chart process: started by the first chart, one chart at a time,
    started again if it died, stopped when idle."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None
        self._stopping: asyncio.Task[None] | None = None  # an idle stop under way

    async def draw(self, chart: Chart) -> bytes:
        line = chart.line()
        async with self._lock:
            if self._idle is not None:
                self._idle.cancel()
            try:
                async with asyncio.timeout(START_SECONDS):
                    return await self._ask(line)
            except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError) as exc:
                await self._kill()
                raise ChartError(f"the chart process did not answer ({exc!r})") from exc
            except asyncio.CancelledError:  # its answer would be read as the next one's
                self._abandon()
                raise
            finally:
                self._idle = asyncio.get_running_loop().call_later(
                    self.idle_seconds, self._stop_idle
                )

    async def _ask(self, line: bytes) -> bytes:
        process = await self._running()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(line)
        await process.stdin.drain()
        (size,) = LENGTH.unpack(await process.stdout.readexactly(LENGTH.size))
        if size == 0:
            raise ChartError("the chart process could not draw this chart (see its log)")
        return await process.stdout.readexactly(size)

    async def _running(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.services.charts",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            logger.debug("chart process {} started", self._process.pid)
        return self._process

    def _stop_idle(self) -> None:
        self._idle = None
        if not self._lock.locked():
            self._stopping = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        """End the process by closing its input (it exits at the end of it)."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            await self._kill(process)

    def _abandon(self) -> None:
        """Kill the process without waiting (a cancelled chart cannot wait): the next chart
        starts a new one."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    async def _kill(self, process: asyncio.subprocess.Process | None = None) -> None:
        process = process or self._process
        self._process = None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        await self._stop()


def serve() -> None:
    """The chart process: a chart per line of stdin, until its end."""
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        try:
            png = chart_png(Chart.read(line))
        except Exception as exc:  # one bad chart: the next ones are drawn all the same
            print(f"chart not drawn: {exc!r}", file=sys.stderr)
            png = b""
        out.write(LENGTH.pack(len(png)) + png)
        out.flush()


EARNINGS_COLOUR = "#2f6fdf"
CONVERSIONS_COLOUR = "#e8890c"


def chart_png(chart: Chart) -> bytes:
    """Earnings (bars) and conversions (a line, marked only where there were some) per hour
    or day, as a PNG readable on a phone: a legend, each axis in its series' colour, dates as
    the locale writes them. Drawn with a Figure of its own (no pyplot and its global state).
    Runs in the chart process (`python -m bot.services.charts`), which alone imports
    matplotlib."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    buckets, currency_precision, hourly = chart.buckets, chart.currency_precision, chart.hourly
    title, earnings_label, conversions_label = chart.labels
    figure = Figure(figsize=(7, 4.5), dpi=150)
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    x = list(range(len(buckets)))
    earnings = [b.earnings_minor / 10**currency_precision for b in buckets]
    counts = [b.conversions for b in buckets]
    bars = ax.bar(x, earnings, color=EARNINGS_COLOUR, label=earnings_label, width=0.7)
    ax.set_ylabel(earnings_label, color=EARNINGS_COLOUR, fontsize=11)
    ax.tick_params(axis="y", colors=EARNINGS_COLOUR, labelsize=10)
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    (line,) = ax2.plot(x, counts, color=CONVERSIONS_COLOUR, linewidth=2, label=conversions_label)
    marked = [i for i, n in enumerate(counts) if n]
    ax2.plot(marked, [counts[i] for i in marked], "o", color=CONVERSIONS_COLOUR, markersize=5)
    ax2.set_ylabel(conversions_label, color=CONVERSIONS_COLOUR, fontsize=11)
    ax2.tick_params(axis="y", colors=CONVERSIONS_COLOUR, labelsize=10)
    ax2.set_ylim(bottom=0, top=max([*counts, 1]) * 1.2)
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole conversions
    every = max(-(-len(buckets) // 6), 1)  # six labels at most: they fit on a phone
    ticks = x[::every]
    ax.set_xticks(ticks)
    ax.set_xticklabels(
        [
            f"{buckets[i].start:%H}:00"
            if hourly
            else format_skeleton("dM", buckets[i].start.date(), locale=chart.locale)
            for i in ticks
        ],
        fontsize=10,
    )
    ax.set_title(title, fontsize=13)
    ax.legend(
        handles=[bars, line],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),  # under the dates, never over a bar
        ncol=2,
        fontsize=10,
        frameon=False,
    )
    for side in ("top",):
        ax.spines[side].set_visible(False)
        ax2.spines[side].set_visible(False)
    figure.tight_layout()
    buffer = BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


if __name__ == "__main__":
    serve()
