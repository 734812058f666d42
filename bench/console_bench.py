"""Console benchmark: each page's server time, and what a first visit transfers. A benchmark, not a test:
it prints figures and never fails on a missed target (exit 1 only when the run itself broke).

Issue #12: "each page's server time p95 <= 50 ms with 100,000 audit entries on the embedded store; a
first visit transfers <= 150 KB compressed in all."

1. builds a SQLite store whose audit log holds `--entries` (100,000) entries through the real append path
   (`AuditService.append` in units of 5,000 entries: chained, MAC'd, one executemany per unit), checks
   the chain with a full verify, makes a checkpoint, and keeps the home (store and keys) under
   $TMPDIR/trainer-ops-console-bench/<entries>/ so a rerun starts in seconds (`--rebuild` makes it again).
   Entries are spread over the last 30 days with a fake clock, as a month of traffic would be;
2. copies it into a fresh home and starts `trainer-ops serve` on it (bench/api_bench.py's Server: a
   process of its own on 127.0.0.1), signs in as admin through the form like a browser;
3. for each page of `console.nav.NAV` and each `--path`: one GET; a 404 is listed as "absent"; else
   `--warmup` GETs, then `--requests` (200) GETs one after the other on one keep-alive connection,
   timed end to end, with `Accept-Encoding: gzip, br` as a browser sends. Prints p50/p95/max and
   PASS/FAIL against 50 ms at p95, beside the server's own time (the route's histogram in /metrics:
   mean, and the share answered within 50 ms);
4. a first visit in a fresh client: the sign-in page, the sign-in (its redirect) and the Overview, and
   each asset they reference (`<script src>`, `<link href>`) once, counting the bytes on the wire
   (compressed bodies and headers), against 150 KB.

    .venv/bin/python bench/console_bench.py
    .venv/bin/python bench/console_bench.py --path '/console/audit?action=predict' --path /console/audit/50000
    .venv/bin/python bench/console_bench.py --entries 20000 --requests 50   # a quick look
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from rich.console import Console
from rich.table import Table

from api_bench import ADMIN_TOKEN, Server, machine_busy_percent, percentile, served_source
from trainer_ops.app import build_ops
from trainer_ops.audit.types import Action, Actor
from trainer_ops.config import Settings
from trainer_ops.console.nav import NAV
from trainer_ops.infra.clock import FakeClock

PAGE_TARGET_MS = 50.0
FIRST_VISIT_TARGET = 150 * 1024
BROWSER = {"Accept-Encoding": "gzip, br", "Accept": "text/html", "Accept-Language": "en"}
UNIT = 5_000  # entries per unit of work: one transaction and one executemany each
MONTH = 30 * 24 * 3600
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ASSETS = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"')
_HISTOGRAM = re.compile(
    r'^trainer_ops_http_request_duration_seconds_(sum|count|bucket)\{(?:le="([^"]+)",)?'
    r'method="GET",route="([^"]+)",status="200"(?:,le="([^"]+)")?\} (\S+)$'
)
# One month of traffic, roughly: gateway calls dominate, with changes, reloads and denials among them.
ACTIONS = (Action.PREDICT,) * 6 + (Action.UPDATE_CONFIG, Action.RELOAD, Action.ACCESS_DENIED)
console = Console(width=max(120, shutil.get_terminal_size().columns))


# ------------------------------------------------------------------------------------------------ store


def cached_home(entries: int, rebuild: bool) -> Path:
    """A home (keys and SQLite store) whose audit log holds `entries` entries, built once and kept."""
    cache = Path(tempfile.gettempdir()) / "trainer-ops-console-bench" / str(entries)
    if (cache / "READY").exists() and not rebuild:
        console.print(f"store with {entries:,} audit entries: cached in {cache}")
        return cache
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    started = time.perf_counter()
    build_store(cache, entries)
    (cache / "READY").write_text(f"{entries}\n")
    console.print(f"store with {entries:,} audit entries: built in {time.perf_counter() - started:.1f} s")
    return cache


def build_store(home: Path, entries: int) -> None:
    clock = FakeClock(start=time.time() - MONTH)
    step = MONTH / max(1, entries)
    settings = Settings(
        home=home, database_url=f"sqlite:///{home / 'trainer-ops.db'}", bootstrap_admin_token=ADMIN_TOKEN
    )
    ops = build_ops(settings, clock=clock)
    try:
        ops.prepare()
        have = ops.checkpoints.size()
        while have < entries:
            n = min(UNIT, entries - have)

            def unit(session: Any, start: int = have, n: int = n) -> None:
                for i in range(start, start + n):
                    clock.advance(step)
                    append_sample(ops.audit, session, i)

            ops.write(unit)
            have += n
        verdict = ops.checkpoints.verify()
        if verdict.status != "intact":
            raise SystemExit(f"the built audit log does not verify: {verdict}")
        ops.checkpoints.make()  # or the server's first checkpoint would hash the whole log mid-measure
    finally:
        ops.close()


def append_sample(audit: Any, session: Any, i: int) -> None:
    action = ACTIONS[i % len(ACTIONS)]
    who = Actor(user_id=f"user-{i % 500}", role="service", scope={"region": ("EU", "KR", "US")[i % 3]})
    audit.append(
        session,
        actor=who,
        action=action,
        target="model-config" if action is Action.UPDATE_CONFIG else f"feature:quiz_{i % 40}",
        before={"temperature": 0.4} if action is Action.UPDATE_CONFIG else None,
        after={"temperature": 0.2} if action is Action.UPDATE_CONFIG else None,
        outcome="denied" if action is Action.ACCESS_DENIED else "success",
        request_id=f"req-{i}",
        details={"model": "gpt-5.1", "tokens": 100 + i % 900, "latencyMs": 20 + i % 300},
    )


# ------------------------------------------------------------------------------------------------ pages


@dataclass
class PageResult:
    path: str
    status: str  # "measured", "absent" or "HTTP <code>"
    p50: float = 0.0
    p95: float = 0.0
    max: float = 0.0
    server_mean: float | None = None
    server_within: float | None = None  # share of answers the server gave within 50 ms
    html_bytes: int = 0  # the page as rendered (before any compression)


def sign_in(client: httpx.Client) -> None:
    form = client.get("/console/sign-in")
    found = _CSRF.search(form.text)
    if form.status_code != 200 or found is None:
        raise SystemExit(f"no sign-in form: {form.status_code}")
    answer = client.post("/console/sign-in", data={"token": ADMIN_TOKEN, "csrf": found.group(1)})
    if answer.status_code != 303 or answer.headers.get("location") != "/console":
        raise SystemExit(f"sign-in failed: {answer.status_code} {answer.text[:300]}")


def histograms(client: httpx.Client) -> dict[str, dict[str, float]]:
    """Per route: the server's sum and count of GET 200 answers, and the count within 50 ms."""
    out: dict[str, dict[str, float]] = {}
    for line in client.get("/metrics").text.splitlines():
        match = _HISTOGRAM.match(line)
        if not match:
            continue
        kind, le_first, route, le_last, value = match.groups()
        le = le_first or le_last
        series = out.setdefault(route, {})
        if kind != "bucket":
            series[kind] = float(value)
        elif le == str(PAGE_TARGET_MS / 1000):
            series["within"] = float(value)
    return out


def measure_page(client: httpx.Client, path: str, requests: int, warmup: int) -> PageResult:
    first = client.get(path)
    if first.status_code == 404:
        return PageResult(path, "absent")
    if first.status_code != 200:
        return PageResult(path, f"HTTP {first.status_code}")
    for _ in range(warmup):
        client.get(path)
    before = histograms(client)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: HTTP {answer.status_code} during the run")
    after = histograms(client)
    samples.sort()
    result = PageResult(path, "measured", percentile(samples, 0.5), percentile(samples, 0.95), samples[-1])
    result.html_bytes = len(first.content)
    for route, series in after.items():
        old = before.get(route, {})
        count = series.get("count", 0) - old.get("count", 0)
        if count == requests:  # the route these requests went to (only they were sent meanwhile)
            result.server_mean = (series["sum"] - old.get("sum", 0)) * 1000 / count
            result.server_within = (series.get("within", 0) - old.get("within", 0)) / count
    return result


def print_pages(results: list[PageResult], requests: int) -> None:
    table = Table(title=f"console pages: {requests} sequential GETs each, as the client saw them")
    table.add_column("page", no_wrap=True)
    for column in ("HTML KB", "p50 ms", "p95 ms", "max ms", "server mean ms", "server <= 50 ms", "p95 <= 50"):
        table.add_column(column, justify="right")
    for r in results:
        if r.status != "measured":
            table.add_row(r.path, "", "", "", "", "", "", r.status)
            continue
        mean = f"{r.server_mean:.1f}" if r.server_mean is not None else "?"
        within = f"{r.server_within:.0%}" if r.server_within is not None else "?"
        verdict = "PASS" if r.p95 <= PAGE_TARGET_MS else "FAIL"
        table.add_row(
            r.path,
            f"{r.html_bytes / 1024:.1f}",
            f"{r.p50:.1f}",
            f"{r.p95:.1f}",
            f"{r.max:.1f}",
            mean,
            within,
            verdict,
        )
    console.print(table)


# ------------------------------------------------------------------------------------------ first visit


def wire_bytes(response: httpx.Response) -> tuple[int, int]:
    """(body bytes as sent, compressed when it was; status line and headers)."""
    head = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n\r\n")
    head += sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
    return response.num_bytes_downloaded, head


def first_visit(base_url: str) -> int:
    table = Table(title="first visit: bytes on the wire (Accept-Encoding: gzip, br)")
    for column in ("request", "encoding", "body", "headers"):
        table.add_column(column, justify="left" if column in ("request", "encoding") else "right")
    total = 0
    seen: set[str] = set()

    def count(label: str, response: httpx.Response) -> None:
        nonlocal total
        body, head = wire_bytes(response)
        total += body + head
        encoding = response.headers.get("content-encoding", "identity")
        table.add_row(label, encoding, f"{body:,}", f"{head:,}")

    def assets_of(page: httpx.Response, client: httpx.Client) -> None:
        for ref in _ASSETS.findall(page.text):
            url = urljoin(str(page.url), ref.replace("&amp;", "&"))
            if url not in seen:  # a browser fetches each asset once, then has it in its cache
                seen.add(url)
                count(f"  {ref.split('?')[0]}", client.get(url))

    with httpx.Client(base_url=base_url, headers=BROWSER, timeout=10) as client:
        form = client.get("/console/sign-in")
        count("GET /console/sign-in", form)
        assets_of(form, client)
        found = _CSRF.search(form.text)
        assert found, "no sign-in form"
        answer = client.post("/console/sign-in", data={"token": ADMIN_TOKEN, "csrf": found.group(1)})
        count("POST /console/sign-in (303)", answer)
        overview = client.get("/console")
        count("GET /console", overview)
        assets_of(overview, client)
    table.add_row("total, bodies and headers", "", f"{total:,}", "")
    console.print(table)
    verdict = "PASS" if total <= FIRST_VISIT_TARGET else "FAIL"
    console.print(f"first visit: {total / 1024:.1f} KB in all (target <= 150 KB): {verdict}")
    return total


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000, help="audit entries in the store")
    parser.add_argument("--requests", type=int, default=200, help="timed GETs per page")
    parser.add_argument("--warmup", type=int, default=20, help="untimed GETs per page first")
    parser.add_argument("--path", action="append", default=[], help="a further page to time (repeatable)")
    parser.add_argument("--rebuild", action="store_true", help="build the cached store again")
    return parser.parse_args(argv)


def absolute_pythonpath() -> None:
    # The server runs in its temporary home: PYTHONPATH=src (a worktree's code) must still find it.
    paths = os.environ.get("PYTHONPATH")
    if paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in paths.split(os.pathsep))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    absolute_pythonpath()
    console.print(
        f"trainer_ops from {served_source()}; machine busy {machine_busy_percent():.0f} % before start"
    )
    cache = cached_home(args.entries, args.rebuild)
    home = Path(tempfile.mkdtemp(prefix="trainer-ops-console-bench-"))
    server = Server(home=home, database_url=None, variant=None)
    try:
        shutil.copytree(cache, home, dirs_exist_ok=True)  # the cached copy stays as built
        server.start()
        with httpx.Client(base_url=server.base_url, headers=BROWSER, timeout=30) as client:
            sign_in(client)
            paths = [item.path for item in NAV] + args.path
            results = [measure_page(client, path, args.requests, args.warmup) for path in paths]
        print_pages(results, args.requests)
        first_visit(server.base_url)
    except (httpx.HTTPError, RuntimeError) as exc:
        console.print(f"[red]the run broke: {exc}[/red]")
        return 1
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
