"""Memory of one all-roles process: `python -m bot run` (bot, web server and scheduler) on
SQLite and the in-process Redis stand-in, idle and under load.

    .venv/bin/python bench/bench_rss.py [--load-seconds 20] [--json FILE]

The process is started as an operator starts it, with a stand-in for Telegram's Bot API
(tests/outage/harness.py FakeBotApi: getMe, long polling with no updates) so that it starts
and polls. Its database is seeded first (one URL offer, 50 affiliates with a link each, 5,000
hour-old clicks for the postbacks to convert). Then:

* **idle**: VmRSS from /proc/PID/status, sampled for `--idle-seconds` once /ready answers and
  the start-up has settled (the median is reported). Target: <= 120 MB.
* **under load**: for `--load-seconds`, redirects (`GET /r/{code}`, wrk with 20 connections,
  else a Python client) and signed postbacks (16 in flight) at once; the peak RSS is
  reported, and the RSS 5 s after the load stopped.
* **the chart process**: charts are drawn by a process of their own (bot/services/charts.py),
  started by the first chart and stopped after 10 idle minutes; its RSS after a month's
  chart is reported beside the bot's, with that first chart's time (its start included).
* **baseline**: the same measurement, idle, of a bare aiohttp server in the same interpreter:
  what Python and aiohttp alone take.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from common import ROOT, log, verdict

IDLE_TARGET_MB = 120.0
SECRET = "s3cret"
BARE_SERVER = """
import sys
from aiohttp import web
async def ok(_r):
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/ready", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def sample(pid: int, seconds: float, every: float = 0.2) -> list[float]:
    values = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        values.append(rss_mb(pid))
        await asyncio.sleep(every)
    return values


async def wait_ready(port: int, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    import aiohttp

    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the process exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"http://127.0.0.1:{port}/ready") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError("the process did not become ready")


async def seed(url: str, clicks: int) -> tuple[list[str], int, list[str]]:
    """Link codes, the offer id and click ids, written before the bot starts."""
    from bot import db
    from models import Click, Link
    from tests.factories import Factory

    await db.migrate(url)
    await db.init(url)
    try:
        factory = Factory()
        offer = await factory.offer(hold_days=0)
        links: list[Link] = []
        for k in range(50):
            affiliate = await factory.affiliate(tg_id=9_100_000 + k, name=f"A{k}")
            links.append(await factory.link(affiliate, offer))
        old = datetime.now(UTC) - timedelta(hours=1)
        rows = [
            Click(
                click_id=uuid.uuid4().hex,
                link_id=links[i % len(links)].id,
                visitor=f"v{i}",
                is_unique=True,
                is_bot=False,
                created_at=old,
            )
            for i in range(clicks)
        ]
        await Click.bulk_create(rows, batch_size=1000)
        return [link.code for link in links], offer.id, [row.click_id for row in rows]
    finally:
        await db.close()


def signed_path(offer_id: int, click_id: str, txid: str) -> str:
    from bot.services.postbacks import sign

    params = {
        "click_id": click_id,
        "event": "deposit",
        "amount": "10.00",
        "currency": "USD",
        "status": "approved",
        "txid": txid,
        "ts": str(int(time.time())),
    }
    params["sig"] = sign(params, SECRET)
    return f"/postback/{offer_id}?{urlencode(params)}"


async def postbacks(base: str, paths: list[str], seconds: float) -> dict[str, int]:
    import aiohttp

    answers: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    queue = iter(paths)

    async def worker(http: aiohttp.ClientSession) -> None:
        for path in queue:
            if time.monotonic() > deadline:
                return
            async with http.get(base + path) as resp:
                body = await resp.json(content_type=None)
                key = f"{resp.status} {body.get('result')}"
                answers[key] = answers.get(key, 0) + 1

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(16)))
    return answers


async def redirects(base: str, codes: list[str], seconds: float, workdir: Path) -> dict:
    wrk = shutil.which("wrk")
    if wrk is not None:
        script = workdir / "paths.lua"
        paths = ", ".join(f'"/r/{c}"' for c in codes)
        script.write_text(
            f"local paths = {{{paths}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n"
            "  return wrk.format('GET', paths[i])\nend\n"
        )
        proc = await asyncio.create_subprocess_exec(
            wrk, "-t1", "-c20", f"-d{int(seconds)}s", "-s", str(script), base,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        text = out.decode()
        rate = next((ln.split()[1] for ln in text.splitlines() if "Requests/sec" in ln), "0")
        return {"tool": "wrk", "rate": float(rate)}
    import aiohttp

    count = 0
    deadline = time.monotonic() + seconds

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal count
        while time.monotonic() < deadline:
            async with http.get(f"{base}/r/{codes[count % len(codes)]}", allow_redirects=False):
                count += 1

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(20)))
    return {"tool": "python", "rate": count / seconds}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bare_baseline(idle_seconds: float) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])  # noqa: ASYNC220
    try:
        await wait_ready(port, proc)
        await asyncio.sleep(1)
        return statistics.median(await sample(proc.pid, idle_seconds))
    finally:
        proc.terminate()
        proc.wait(10)


async def chart_process() -> tuple[float, float]:
    """The chart process (bot/services/charts.py) after a month's chart: the memory that the
    first chart adds beside the bot's process (stopped after 10 idle minutes), and that first
    chart's time, the process's start included."""
    from bot.services.charts import Bucket, Chart, ChartProcess

    days = [
        Bucket(datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=i), i % 7, 1234 * i)
        for i in range(30)
    ]
    charts = ChartProcess()
    try:
        started = time.monotonic()
        await charts.draw(Chart(days, 2, ("Earnings", "Earnings, USD", "Conversions")))
        first = time.monotonic() - started
        assert charts._process is not None
        return rss_mb(charts._process.pid), first
    finally:
        await charts.close()


async def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from tests.outage.harness import FakeBotApi

    token = "123456:" + "R" * 35
    url = f"sqlite://{workdir}/bot.sqlite3"
    codes, offer_id, click_ids = await seed(url, args.clicks)
    log(f"seeded {len(codes)} links and {len(click_ids):,} clicks")
    api = FakeBotApi()
    await api.start()
    port = free_port()
    env = {
        **os.environ,
        "BOT_TOKEN": token,
        "DATABASE_URL": url,
        "BOT_API_URL": api.url,
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DATA_DIR": str(workdir),
        "LOG_LEVEL": "WARNING",
        "FRAUD_MIN_CLICK_SECONDS": "0",
    }
    env.pop("REDIS_URL", None)
    log_file = (workdir / "bot.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=log_file, stderr=log_file
    )
    out: dict[str, Any] = {"target_mb": IDLE_TARGET_MB}
    try:
        await wait_ready(port, proc)
        await asyncio.sleep(args.settle)
        out["idle_mb"] = statistics.median(await sample(proc.pid, args.idle_seconds))
        log(f"idle: {out['idle_mb']:.1f} MB")
        base = f"http://127.0.0.1:{port}"
        paths = [signed_path(offer_id, c, f"rss-{i}") for i, c in enumerate(click_ids)]
        sampler = asyncio.create_task(sample(proc.pid, args.load_seconds + 1))
        started = time.monotonic()
        clicks, answers = await asyncio.gather(
            redirects(base, codes, args.load_seconds, workdir),
            postbacks(base, paths, args.load_seconds),
        )
        elapsed = time.monotonic() - started
        load_samples = await sampler
        out["load_peak_mb"] = max(load_samples)
        out["redirects_per_s"] = clicks["rate"]
        out["redirect_tool"] = clicks["tool"]
        out["postbacks_per_s"] = sum(answers.values()) / elapsed
        out["postback_answers"] = answers
        await asyncio.sleep(5)
        out["after_mb"] = rss_mb(proc.pid)
        log(f"under load: peak {out['load_peak_mb']:.1f} MB; 5 s after: {out['after_mb']:.1f}")
    finally:
        proc.terminate()
        try:
            out["exit_code"] = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out["exit_code"] = proc.wait(10)
        log_file.close()
        await api.close()
    out["chart_mb"], out["first_chart_s"] = await chart_process()
    log(f"chart process: {out['chart_mb']:.1f} MB, first chart in {out['first_chart_s']:.2f} s")
    out["bare_mb"] = await bare_baseline(args.idle_seconds)
    out["ok"] = out["idle_mb"] <= IDLE_TARGET_MB
    return out


def report(out: dict[str, Any]) -> list[str]:
    return [
        "| what | RSS MB |",
        "|---|---:|",
        f"| bare aiohttp server, idle (baseline) | {out['bare_mb']:.1f} |",
        f"| `python -m bot run`, idle | {out['idle_mb']:.1f} |",
        f"| under load, peak ({out['redirects_per_s']:,.0f} redirects/s with "
        f"{out['redirect_tool']} + {out['postbacks_per_s']:,.0f} postbacks/s) | "
        f"{out['load_peak_mb']:.1f} |",
        f"| 5 s after the load | {out['after_mb']:.1f} |",
        f"| the chart process, a process of its own once a chart is drawn (first chart "
        f"{out['first_chart_s']:.2f} s) | {out['chart_mb']:.1f} |",
        "",
        f"idle {out['idle_mb']:.1f} MB (target <= {IDLE_TARGET_MB:g} MB): **{verdict(out['ok'])}**"
        f"; idle/bare = {out['idle_mb'] / out['bare_mb']:.2f}; postback answers "
        f"{out['postback_answers']}; exit code after SIGTERM {out['exit_code']}",
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle sampling (5)")
    parser.add_argument("--settle", type=float, default=5.0, help="wait after /ready (5)")
    parser.add_argument("--load-seconds", type=float, default=20.0, help="load (20)")
    parser.add_argument("--clicks", type=int, default=5000, help="clicks to convert (5000)")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="affrace-bench-rss-") as tmp:
        out = asyncio.run(bench(args, Path(tmp)))
    print()
    for line in report(out):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
