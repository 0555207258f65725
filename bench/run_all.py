"""Every benchmark in bench/, one after the other, each in its own process with --json, and
one table of the figures: each against a baseline measured in the same run where there is
one, with PASS/FAIL against the target of issue 14.

    python3 dev.py bench [--quick] [--only webhook,outbox] [--markdown FILE] [--logs DIR]

Each bench's own output (its full report) is kept in the logs folder (default: a new folder
under bench/out/). --quick runs shorter, smaller versions (a smoke test of the table, not
figures to quote: the 1M race sizes are left out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REDIS14 = "redis://127.0.0.1:6379/14"


@dataclass
class Row:
    bench: str
    what: str
    ours: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    result: str = "-"


def ok(flag: bool) -> str:
    return "**PASS**" if flag else "**FAIL**"


def n(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return "never"
    return f"{value:,.{digits}f}"


def seconds(value: float) -> str:
    return "never (updates missing)" if math.isinf(value) else f"{value:.2f} s"


# --------------------------------------------------------------------------- rows per bench


def redirect_rows(data: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for case in data:
        bare, tracked = case["bare"], case["tracked"]
        ratio = tracked["rps"] / bare["rps"] if bare["rps"] else 0.0
        goal = 0.6 if case["name"] == "postgres" else 0.55
        rows.append(
            Row(
                "redirect",
                f"`GET /r/{{code}}` req/s, {case['name']}, 50 connections",
                n(tracked["rps"]),
                f"{n(bare['rps'])} (bare aiohttp 302)",
                f"{ratio:.2f}",
                f">= {goal:g}",
                ok(ratio >= goal),
            )
        )
        rows.append(
            Row(
                "redirect",
                f"tracked p99 latency, {case['name']}",
                f"{tracked['p99_ms']:.1f} ms",
                f"{bare['p99_ms']:.1f} ms",
                f"{tracked['p99_ms'] / bare['p99_ms']:.1f}x" if bare["p99_ms"] else "-",
                "<= 5 ms",
                ok(tracked["p99_ms"] <= 5.0),
            )
        )
        clicks = case.get("clicks") or {}
        if clicks:
            rows.append(
                Row(
                    "redirect",
                    f"clicks stored = 302s answered, {case['name']}",
                    n(clicks.get("added", 0)),
                    f"{n(clicks.get('redirects', 0))} (302s received)",
                    target="equal",
                    result=ok(bool(clicks.get("match"))),
                )
            )
    return rows


def postback_rows(data: dict[str, Any]) -> list[Row]:
    cases = {c["name"]: c for c in data["cases"]}
    base = cases.get("baseline", {}).get("rate", 0.0)
    rows = []
    for name, what in (("http", "over HTTP (judged)"), ("service", "service call, no HTTP")):
        case = cases.get(name)
        if case is None:
            continue
        ratio = case["rate"] / base if base else 0.0
        judged = name == "http"
        rows.append(
            Row(
                "postback",
                f"conversions/s {what}, PostgreSQL",
                n(case["rate"]),
                f"{n(base)} (INSERT … ON CONFLICT)",
                f"{ratio:.2f}",
                ">= 4,000/s and >= 0.6" if judged else "-",
                ok(case["rate"] >= 4000 and ratio >= 0.6) if judged else "-",
            )
        )
    rows.append(
        Row(
            "postback",
            "rows stored = 'stored' answers",
            ", ".join(f"{c['name']}: {'MATCH' if c['rows_match'] else 'MISMATCH'}"
                      for c in data["cases"]),
            target="equal",
            result=ok(all(c["rows_match"] for c in data["cases"])),
        )
    )  # fmt: skip
    return rows


def webhook_rows(data: dict[str, Any]) -> list[Row]:
    web, bare = data["webhook"], data["bare"]
    return [
        Row(
            "webhook",
            "updates/s through `POST /webhook`, full dispatcher (mix of /start, menu, texts)",
            n(web["rate"]),
            f"{n(bare['rate'])} (bare Dispatcher.feed_update)",
            f"{data['ratio']:.3f}",
            ">= 0.3",
            ok(data["ok"]),
        ),
        Row(
            "webhook",
            "same, p50 / p99 latency at 32 in flight",
            f"{web['p50_ms']:.0f} / {web['p99_ms']:.0f} ms",
            f"{n(data['bare_http']['rate'])}/s bare dispatcher behind bare aiohttp (HTTP client "
            "bound)",
        ),
    ]


def race_rows(data: dict[str, Any]) -> list[Row]:
    rows = []
    for size in data["sizes"]:
        label = f"{size['n'] // 1000}k" if size["n"] < 1_000_000 else f"{size['n'] // 10**6}M"
        if size["tick_target_s"] is not None and size["tick_max_s"] is not None:
            rows.append(
                Row(
                    "race tick",
                    f"slowest tick, {label} participants, K = {size['k']:,} (1 %)",
                    f"{size['tick_max_s']:.3f} s",
                    f"{size['idle_tick_max_s']:.3f} s (idle tick)",
                    f"median {size['tick_median_s']:.3f} s",
                    f"<= {size['tick_target_s']:g} s",
                    ok(size["tick_max_s"] <= size["tick_target_s"]),
                )
            )
        if size["rank_target_ms"] is not None and size["rank"]:
            rank, ping = size["rank"], size["ping"]
            rows.append(
                Row(
                    "race tick",
                    f"own-rank lookup p99, {label}",
                    f"{rank['p99_ms']:.3f} ms",
                    f"{ping['p99_ms']:.3f} ms (Redis PING)",
                    f"{rank['p99_ms'] / ping['p99_ms']:.2f}x",
                    f"<= {size['rank_target_ms']:g} ms",
                    ok(rank["p99_ms"] <= size["rank_target_ms"]),
                )
            )
    return rows


def outbox_rows(data: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for run in data:
        paid = run["mode"] == "paid"
        rows.append(
            Row(
                "outbox",
                f"{'paid broadcast (PAID_BROADCAST=true)' if paid else 'free'} msg/s over "
                f"{run['duration']:g} s; 429s; sent = recorded",
                f"{run['rate']:,.1f}; {run['refused']} × 429; "
                f"{run['sent']:,} = {run['recorded']:,}",
                f"{run['limit']:,}/s (the stand-in's limit)",
                f"{run['rate'] / run['limit']:.3f}",
                f">= {run['target']:g}/s, no 429",
                ok(run["ok"]),
            )
        )
    return rows


def ws_rows(data: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "ws fan-out",
            f"tick → update on {data['clients']:,} WebSockets: p99 (last client); updates missing",
            f"{seconds(data['p99_s'])} ({seconds(data['last_s'])}); {data['missing']:,}",
            "-",
            "-",
            "p99 <= 1 s",
            ok(data["ok"]),
        ),
        Row(
            "ws fan-out",
            f"{data['clients']:,} clients connecting (not judged)",
            f"{data['connect_s']:.0f} s",
        ),
    ]


def rss_rows(data: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "RSS",
            "`python -m bot run` (all roles, SQLite), idle",
            f"{data['idle_mb']:.0f} MB",
            f"{data['bare_mb']:.0f} MB (bare aiohttp server)",
            f"{data['idle_mb'] / data['bare_mb']:.1f}x",
            "<= 120 MB",
            ok(data["ok"]),
        ),
        Row(
            "RSS",
            f"under load ({data['redirects_per_s']:,.0f} redirects/s + "
            f"{data['postbacks_per_s']:,.0f} postbacks/s), peak",
            f"{data['load_peak_mb']:.0f} MB",
        ),
        Row(
            "RSS",
            "the chart process (its own, from the first chart to 10 idle minutes); first chart",
            f"{data['chart_mb']:.0f} MB; {data['first_chart_s']:.2f} s",
        ),
    ]


def miniapp_rows(data: dict[str, Any]) -> list[Row]:
    app, bare = data["app"], data["bare"]
    return [
        Row(
            "Mini App",
            "first screen drawn, p95 (headless Chromium)",
            f"{app['p95']:.0f} ms",
            f"{bare['p95']:.0f} ms (bare page)",
            f"{bare['p50'] / app['p50']:.2f} (bare/app at p50)",
            f"<= {data['target_ms']:g} ms",
            ok(app["p95"] <= data["target_ms"]),
        )
    ]


def miniapp_missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (python3 dev.py test sets it up)"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    return None if Path(chromium).exists() else f"no browser at {chromium}"


@dataclass
class Bench:
    name: str
    script: str
    args: list[str]
    quick: list[str]
    rows: Callable[[Any], list[Row]]
    missing: Callable[[], str | None] = lambda: None


BENCHES = [
    Bench(
        "redirect",
        "bench_redirect.py",
        ["--db", "pg", "--redis-url", REDIS14],
        ["--duration", "4", "--warmup", "1", "--spool-clicks", "20000"],
        redirect_rows,
    ),
    Bench("postback", "bench_postback.py", [], ["--postbacks", "3000"], postback_rows),
    Bench(
        "webhook", "bench_webhook.py", [], ["--updates", "1500", "--warmup", "200"], webhook_rows
    ),
    Bench(
        "race_tick",
        "bench_race_tick.py",
        [],
        ["--sizes", "100000", "--ticks", "3", "--lookups", "3000", "--apply-events", "200"],
        race_rows,
    ),
    Bench(
        "outbox",
        "bench_outbox.py",
        [],
        ["--duration", "10", "--paid-duration", "5"],
        outbox_rows,
    ),
    Bench(
        "ws_fanout",
        "bench_ws_fanout.py",
        [],
        ["--clients", "500", "--ticks", "2"],
        ws_rows,
    ),
    Bench(
        "rss",
        "bench_rss.py",
        [],
        ["--load-seconds", "6", "--settle", "2", "--idle-seconds", "2"],
        rss_rows,
    ),
    Bench("miniapp", "bench_miniapp.py", ["--runs", "20"], ["--runs", "5"], miniapp_rows,
          miniapp_missing),
]  # fmt: skip


# --------------------------------------------------------------------------- running


def machine() -> dict[str, str]:
    def first(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    pg = first(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"])
    redis = first(["redis-cli", "-n", "14", "INFO", "server"])
    redis_version = next(
        (ln.split(":", 1)[1] for ln in redis.splitlines() if ln.startswith("redis_version")), "?"
    )
    revision = first(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg.split()[0] if pg and pg != "?" else "?",
        "redis": redis_version.strip(),
        "wrk": "yes" if shutil.which("wrk") else "no (Python load generator)",
        "project": revision,
    }


def run_one(bench: Bench, quick: bool, logs: Path) -> tuple[list[Row], float]:
    why = bench.missing()
    if why is not None:
        return [Row(bench.name, "not run", "-", result=f"SKIPPED: {why}")], 0.0
    out = logs / f"{bench.name}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / bench.script), *bench.args, "--json", str(out)]
    if quick:
        cmd += bench.quick
    print(f"== {bench.name}: {' '.join(cmd[1:])}", flush=True)
    started = time.monotonic()
    with (logs / f"{bench.name}.log").open("w") as log_file:
        code = subprocess.call(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    print(f"   {bench.name}: exit {code} after {elapsed:.0f} s (log: {logs / bench.name}.log)")
    if code != 0 or not out.exists():
        return [
            Row(bench.name, "crashed", "-", result=f"**ERROR** (exit {code}, see log)")
        ], elapsed
    try:
        return bench.rows(json.loads(out.read_text())), elapsed
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return [Row(bench.name, "unreadable result", "-", result=f"**ERROR** {exc!r}")], elapsed


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| bench | what | ours | baseline (same run) | ratio | target | result |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    lines += [
        f"| {r.bench} | {r.what} | {r.ours} | {r.baseline} | {r.ratio} | {r.target} | {r.result} |"
        for r in rows
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short, small runs (smoke test)")
    parser.add_argument("--only", help="comma list of: " + ", ".join(b.name for b in BENCHES))
    parser.add_argument("--markdown", help="also write the table (and the machine) here")
    parser.add_argument("--logs", help="folder for each bench's output and JSON")
    args = parser.parse_args(argv)
    chosen = BENCHES
    if args.only:
        names = {x.strip() for x in args.only.split(",") if x.strip()}
        unknown = names - {b.name for b in BENCHES}
        if unknown:
            parser.error(f"unknown bench: {', '.join(sorted(unknown))}")
        chosen = [b for b in BENCHES if b.name in names]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    logs = Path(args.logs) if args.logs else HERE / "out" / stamp
    logs.mkdir(parents=True, exist_ok=True)
    info = machine()
    rows: list[Row] = []
    started = time.monotonic()
    times = []
    for bench in chosen:
        load = os.getloadavg()[0]  # other work on the machine depresses the figures
        got, elapsed = run_one(bench, args.quick, logs)
        rows += got
        times.append(f"{bench.name} {elapsed:.0f} s, load {load:.1f} before")
    total = time.monotonic() - started
    head = [
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Linux "
        f"{info['kernel']}, Python {info['python']}, PostgreSQL {info['postgresql']}, Redis "
        f"{info['redis']}, wrk: {info['wrk']}; project {info['project']}, {info['date']}"
        + (" (--quick: smoke-test sizes, not figures to quote)" if args.quick else ""),
        "",
    ]
    tail = [
        "",
        f"Run time {total / 60:.1f} min ({'; '.join(times)}; the load is the 1-minute load "
        f"average, {info['nproc']} CPUs); logs in {logs}",
    ]
    text = "\n".join([*head, *table(rows), *tail])
    print()
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    (logs / "table.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
