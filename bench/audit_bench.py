"""Audit log benchmark: appends/s (1 and 8 writers, group commit), full-verify entries/s, and query
latency percentiles on a large log. Prints figures; not a test.

    .venv/bin/python bench/audit_bench.py                       # SQLite, 1,000,000 entries
    .venv/bin/python bench/audit_bench.py --store postgresql    # a fresh PostgreSQL database
    .venv/bin/python bench/audit_bench.py --entries 100000      # a quicker run
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from trainer_ops.app import Ops, build_ops
from trainer_ops.audit.merkle import verify_inclusion
from trainer_ops.audit.service import AuditQuery
from trainer_ops.audit.types import Action, Actor
from trainer_ops.config import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
console = Console()
ACTIONS = [
    Action.UPDATE_CONFIG,
    Action.PREDICT,
    Action.PREDICT,
    Action.PREDICT,
    Action.RELOAD,
    Action.ACCESS_DENIED,
]


def actor(i: int) -> Actor:
    return Actor(user_id=f"user-{i % 500}", role="service", scope={"region": f"R{i % 7}"})


def append_sample(ops: Ops, session: Any, i: int) -> None:
    """One realistic entry (the size of a config change or a gateway call's record)."""
    ops.audit.append(
        session,
        actor=actor(i),
        action=ACTIONS[i % len(ACTIONS)],
        target="model-config",
        before={"temperature": 0.4},
        after={"temperature": 0.2},
        request_id=f"req-{i}",
        details={"model": "gpt-5.1", "tokens": 123, "latencyMs": 42},
    )


def append_one(ops: Ops, i: int) -> None:
    ops.write(lambda session: append_sample(ops, session, i))


def bench_appends(ops: Ops, writers: int, seconds: float) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * writers

    def work(w: int) -> None:
        i = w
        while time.monotonic() < stop:
            append_one(ops, i)
            counts[w] += 1
            i += writers

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


def fill(ops: Ops, total: int) -> None:
    """Bring the log to `total` entries, 2,000 entries per unit of work."""
    have = ops.checkpoints.size()
    chunk = 2000
    started = time.perf_counter()
    while have < total:
        n = min(chunk, total - have)

        def unit(session: Any, start: int = have, n: int = n) -> None:
            for i in range(start, start + n):
                append_sample(ops, session, i)

        ops.write(unit)
        have += n
        if have % 100_000 == 0:
            rate = have / (time.perf_counter() - started)
            console.print(f"  filled {have:,} entries ({rate:,.0f}/s)")


def bench_queries(ops: Ops, repeats: int) -> dict[str, tuple[float, float]]:
    now_ms = int(time.time() * 1000)
    queries = {
        "newest page": AuditQuery(limit=50),
        "userId": AuditQuery(user_id="user-42", limit=50),
        "action": AuditQuery(actions=("update_config",), limit=50),
        "actions list": AuditQuery(actions=("reload", "access_denied"), limit=50),
        "from/to (last hour)": AuditQuery(from_ms=now_ms - 3_600_000, to_ms=now_ms, limit=50),
        "userId+action+from": AuditQuery(
            user_id="user-7", actions=("predict",), from_ms=now_ms - 86_400_000, limit=50
        ),
        "rare action": AuditQuery(actions=("publish",), limit=50),
    }
    out = {}
    for name, query in queries.items():
        samples = []
        cursor = None
        for _ in range(repeats):
            started = time.perf_counter()
            with ops.database.read() as session:
                page = ops.audit.query(session, AuditQuery(**{**query.__dict__, "cursor": cursor}))
            samples.append((time.perf_counter() - started) * 1000)
            cursor = page.next_cursor  # walk down the pages: later pages are not slower
        samples.sort()
        out[name] = (statistics.median(samples), samples[int(len(samples) * 0.95) - 1])
    return out


def bench_proofs(ops: Ops, entries: int, repeats: int) -> tuple[float, tuple[float, float]]:
    """The first inclusion proof (which hashes every complete tile) and warm ones at random entries, in
    ms; each proof is checked against the checkpoint's root, outside the timing."""

    def timed(seq: int) -> float:
        started = time.perf_counter()
        proof = ops.checkpoints.proof(seq)
        elapsed = (time.perf_counter() - started) * 1000
        checkpoint = proof.checkpoint
        path = [bytes.fromhex(p) for p in proof.path]
        leaf = bytes.fromhex(proof.leaf_hash)
        assert verify_inclusion(leaf, seq - 1, checkpoint.size, path, checkpoint.root), seq
        return elapsed

    first = timed(entries // 2)
    rng = random.Random(9162)
    samples = sorted(timed(rng.randint(1, entries)) for _ in range(repeats))
    return first, (statistics.median(samples), samples[int(len(samples) * 0.95) - 1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per append measurement")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="trainer-ops-bench-"))
    pg_name = None
    if args.store == "postgresql":
        pg_name = f"trainer_ops_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_name}"
    else:
        url = f"sqlite:///{home / 'bench.db'}"
    ops = build_ops(Settings(home=home, database_url=url, bootstrap_admin_token="tops_bench"))
    try:
        ops.prepare()
        results = Table(title=f"audit log on {args.store}")
        results.add_column("measure")
        results.add_column("figure", justify="right")
        results.add_column("target", justify="right")
        for writers in (1, 8):
            batches_before = ops.writer.batches
            units_before = ops.writer.units
            rate = bench_appends(ops, writers, args.seconds)
            per_batch = (ops.writer.units - units_before) / max(1, ops.writer.batches - batches_before)
            results.add_row(
                f"appends/s, {writers} writer(s) (mean batch {per_batch:.1f})",
                f"{rate:,.0f}",
                ">= 5,000" if writers == 8 else "",
            )
        console.print(f"filling the log to {args.entries:,} entries ...")
        fill(ops, args.entries)
        started = time.perf_counter()
        verdict = ops.checkpoints.verify()
        elapsed = time.perf_counter() - started
        assert verdict.status == "intact", verdict
        results.add_row(
            f"full verify ({verdict.size:,} entries)", f"{verdict.size / elapsed:,.0f} entries/s", ">= 50,000"
        )
        started = time.perf_counter()
        ops.checkpoints.make()
        results.add_row("first checkpoint over the whole log", f"{time.perf_counter() - started:.2f} s", "")
        fill(ops, args.entries + 1000)
        started = time.perf_counter()
        ops.checkpoints.make()
        results.add_row(
            "next checkpoint (+1,000 entries)", f"{(time.perf_counter() - started) * 1000:.1f} ms", ""
        )
        first, warm = bench_proofs(ops, args.entries, 200)
        results.add_row("inclusion proof, first (cold tile cache)", f"{first:.0f} ms", "")
        results.add_row(
            "inclusion proof, warm: p50 / p95", f"{warm[0]:.2f} / {warm[1]:.2f} ms", "p95 <= 50 ms"
        )
        for name, (p50, p95) in bench_queries(ops, 40).items():
            results.add_row(f"query {name}: p50 / p95", f"{p50:.2f} / {p95:.2f} ms", "p95 <= 20 ms")
        console.print(results)
    finally:
        ops.close()
        shutil.rmtree(home, ignore_errors=True)  # a log of 1M entries is most of a gigabyte
        if pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
