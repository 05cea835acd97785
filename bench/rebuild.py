"""Projection rebuild of the loaded log, beside a raw scan of the same table, with memory.

The raw scan reads every event with the statement the rebuild's reader sends (same columns,
same keyset pages) on the bare driver, and does nothing else: the floor under any replay.
It runs once before the rebuild and once after, and the rebuild is compared with their
mean: one scan of a second or so swung 0.75-1.74 s between runs on a shared machine.
The rebuild runs in a child process (bench/rebuild_child.py: `rebuild_live`, facts, then the
live figures), so its memory is its own; here the parent also samples the child's resident
set every SAMPLE_SECONDS, to tell a flat profile from one that grows with the events replayed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from bench.report import Goal, Section, ratio, say
from bench.store import Store

ROOT = Path(__file__).resolve().parents[1]
"""The child runs from here, where `bench` is importable (it is not an installed package)."""
SAMPLE_SECONDS = 0.1
FLAT_GROWTH = 1.25
"""Memory is flat when the resident set at the end of the replay is at most this times the
one early in it (the replay holds a page at a time; only aggregates' names accumulate)."""


@dataclass(frozen=True)
class Samples:
    """(seconds since the child started, RSS MiB) pairs, and its peak (VmHWM)."""

    points: list[tuple[float, float]]
    peak_mib: float

    def highest(self, start: float, end: float) -> float | None:
        window = [rss for t, rss in self.points if start <= t <= end]
        return round(max(window), 1) if window else None

    def curve(self, steps: int = 10) -> list[float | None]:
        """The highest RSS in each tenth of the child's life: the shape, for the JSON."""
        end = self.points[-1][0] if self.points else 0.0
        return [self.highest(end * i / steps, end * (i + 1) / steps) for i in range(steps)]


def raw_scan(url: str, page: int) -> tuple[int, float]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as curs:
            started = time.perf_counter()
            after, count = 0, 0
            while True:
                curs.execute(
                    "SELECT position, originator_id, originator_version, topic, state "
                    "FROM events WHERE position > %s ORDER BY position LIMIT %s", (after, page))
                rows = curs.fetchall()
                if not rows:
                    break
                count += len(rows)
                after = rows[-1][0]
            return count, time.perf_counter() - started
    finally:
        conn.close()


def memory_mib(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of a process in MiB: its resident set now, and the most it has had
    since it exec'd (unlike the kernel's ru_maxrss of a child, which also counts the copy
    of the forking parent the child briefly was)."""
    found: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024
    except OSError:
        return None
    if len(found) < 2:
        return None
    return found["VmRSS"], found["VmHWM"]


def rebuild_child(url: str, page: int) -> tuple[dict[str, float], Samples]:
    """bench/rebuild_child.py's rebuild; its timings, and its memory over time."""
    command = [sys.executable, "-m", "bench.rebuild_child", url, "--page", str(page)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    # Wall-clock time, the one clock both processes read alike: the child reports when
    # its stages began on it, and the samples are placed on the same axis.
    started = time.time()
    points: list[tuple[float, float]] = []
    high_water = 0.0
    while process.poll() is None:
        found = memory_mib(process.pid)
        if found is not None:
            points.append((time.time() - started, found[0]))
            high_water = max(high_water, found[1])
        time.sleep(SAMPLE_SECONDS)
    stdout = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        raise RuntimeError(f"rebuild child failed ({process.returncode})")
    sampled = max((rss for _, rss in points), default=0.0)
    result: dict[str, float] = json.loads(stdout.strip().splitlines()[-1])
    result["facts_began_at"] -= started
    result["figures_began_at"] -= started
    return result, Samples(points, round(max(sampled, high_water), 1))


def run(store: Store, page: int) -> Section:
    section = Section("rebuild", f"Projection rebuild of {store.events:,} events (PostgreSQL)",
                      ("what", "events", "seconds", "events/s", "peak RSS MiB", "rebuild/raw"))
    say(f"rebuild: raw scan of {store.events:,} events")
    scanned, before = raw_scan(store.url, page)
    say("rebuild: full live rebuild in a child process")
    result, samples = rebuild_child(store.url, page)
    say("rebuild: the raw scan again")
    _, after = raw_scan(store.url, page)
    scan_seconds = (before + after) / 2
    scan_rate = scanned / scan_seconds
    rate = result["events"] / result["seconds"]
    facts_rate = result["events"] / result["facts_seconds"] if result["facts_seconds"] else None
    # The facts stage replays the log (what grows with N). Its bounds come from the
    # child's own marks: counting back from the child's last sample also counted its
    # exit (0.15-0.5 s), which put the "late" window into the sweep's first page.
    # Compare its resident set a fifth of the way in with the one at its end.
    facts_start, facts_end = result["facts_began_at"], result["figures_began_at"]
    span = result["facts_seconds"]
    early = samples.highest(facts_start + 0.15 * span, facts_start + 0.3 * span)
    late = samples.highest(facts_start + 0.85 * span, facts_end)
    growth = round(late / early, 3) if early and late else None
    section.rows += [
        ("raw scan (same pages, bare driver; mean of before and after)", scanned,
         round(scan_seconds, 2), round(scan_rate), None, None),
        ("rebuild: facts stage", result["events"], result["facts_seconds"],
         round(facts_rate or 0), None, ratio(facts_rate, scan_rate)),
        ("rebuild: whole (facts + live figures)", result["events"], result["seconds"],
         round(rate), samples.peak_mib, ratio(rate, scan_rate)),
    ]
    section.metrics.update({
        "events": result["events"], "raw_scan_events_per_s": round(scan_rate),
        "raw_scan_seconds_before_after": [round(before, 3), round(after, 3)],
        "events_per_s": round(rate), "facts_events_per_s": round(facts_rate or 0),
        "figures_seconds": result["figures_seconds"], "over_raw_scan": ratio(rate, scan_rate),
        "peak_rss_mib": samples.peak_mib, "rss_early_mib": early, "rss_late_mib": late,
        "rss_late_over_early": growth, "rss_curve_mib": samples.curve(), "page": page,
    })
    section.goals.append(Goal("rebuild.over_raw_scan", ratio(rate, scan_rate), 0.35, "x"))
    section.goals.append(Goal("rebuild.rss_late_over_early", growth, FLAT_GROWTH, "x",
                              at_most=True, note=f"peak {samples.peak_mib} MiB"))
    section.goals.append(Goal("rebuild rate (whole)", round(rate), 30_000, "events/s"))
    section.notes.append(
        f"memory: RSS sampled every {SAMPLE_SECONDS} s; while replaying the log {early} MiB "
        f"at 15-30% of the facts stage, {late} MiB at its end; peak {samples.peak_mib} MiB "
        f"(whole child, figures stage included) for {store.events:,} events."
    )
    return section
