"""Recomputes the hash chain over the stored log and names the first position that is wrong.

The log is read in bounded pages (events and chain links separately, merged here), so
memory stays flat however long the log is. A wrong position is classified as:
- `missing`: the event at this position is gone (a deleted row or a truncated tail);
- `inserted`: a row the ledger did not write (no link of its own, or one that pushed
  the genuine rows down a position);
- `reordered`: the event here is genuine but belongs at another position;
- `altered`: anything else whose link does not match (a changed byte of a state, topic,
  version, originator or recording time, or a changed link).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from persistence.records import GENESIS_LINK, ChainInput, LogRow, from_micros, link_from_parts

PAGE_SIZE = 10_000
REORDER_WINDOW = 64
"""How far either side of a bad position to look for the place a genuine event belongs."""


@dataclass(frozen=True)
class Problem:
    position: int
    kind: str  # missing | inserted | reordered | altered
    detail: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_position: int
    head_link: bytes
    head_recorded_at: datetime | None
    first_bad: Problem | None = None


@runtime_checkable
class ChainSource(Protocol):
    """What verify needs from a recorder: pages of chain inputs and pages of links."""

    def select_chain_inputs(self, after: int, limit: int) -> list[ChainInput]: ...

    def select_links(
        self, after: int, up_to: int | None, limit: int
    ) -> list[tuple[int, bytes]]: ...


@runtime_checkable
class EventLog(ChainSource, Protocol):
    """Our recorders as auditors read them: the log page by page, its head, its chain."""

    def select_log(self, after: int, limit: int) -> list[LogRow]: ...

    def max_notification_id(self) -> int | None: ...


def event_log(recorder: object) -> EventLog:
    """The application's recorder as an event log (only our recorders are)."""
    if not isinstance(recorder, EventLog):
        raise TypeError(f"{type(recorder).__name__} does not keep a chained event log")
    return recorder


def expected_link(previous: bytes, position: int, row: ChainInput) -> bytes:
    """The link `row` should have if it stood at `position` after `previous`."""
    return link_from_parts(
        previous,
        position,
        row.originator,
        row.originator_version,
        row.topic,
        row.state_digest,
        row.recorded_micros,
    )


class _Walk:
    """The state of one pass along the log: the last good position and link."""

    def __init__(self) -> None:
        self.position = 0
        self.link = GENESIS_LINK
        self.recorded_micros: int | None = None
        self.checked = 0

    def accept(self, row: ChainInput, link: bytes) -> None:
        self.position, self.link, self.recorded_micros = row.position, link, row.recorded_micros
        self.checked += 1


def verify(source: ChainSource, progress: Callable[[int], object] | None = None) -> VerifyResult:
    """Walk the whole log; stop at the first wrong position and say what is wrong there."""
    walk = _Walk()
    for rows in _pages(source):
        problem = _check_page(walk, rows)
        if progress is not None:
            progress(len(rows))
        if problem is None:
            continue
        if problem.kind in ("altered", "reordered"):
            problem = _refine(source, walk, problem)
        return _result(walk, problem)
    orphan = source.select_links(walk.position, None, 1)
    if orphan:
        # Links beyond the last event: the events of the tail were deleted.
        return _result(walk, Problem(walk.position + 1, "missing", "event gone, its link remains"))
    return _result(walk, None)


def _result(walk: _Walk, problem: Problem | None) -> VerifyResult:
    return VerifyResult(
        ok=problem is None,
        checked=walk.checked,
        head_position=walk.position,
        head_link=walk.link,
        head_recorded_at=(
            None if walk.recorded_micros is None else from_micros(walk.recorded_micros)
        ),
        first_bad=problem,
    )


def _pages(source: ChainSource) -> Iterator[list[ChainInput]]:
    """Pages of the log, in order; the next pages are read while the current one is hashed.

    A source may say how many pages to read at once (`read_ahead_pages`, default 1): a
    database server works on one while this process decodes another. Pages are keyset
    pages (after the last position read); those read ahead assume the pages before them
    were full and gap-free, as a sound log's are, and one that was asked for after any
    other position than the last one really read is thrown away and asked for again, so
    a log with gaps is read exactly as it would be one page at a time.
    """
    depth = max(1, int(getattr(source, "read_ahead_pages", 1)))
    with ThreadPoolExecutor(max_workers=depth) as reader:
        after = 0
        pending: deque[tuple[int, Future[list[ChainInput]]]] = deque()

        def top_up() -> None:
            while len(pending) < depth:
                start = pending[-1][0] + PAGE_SIZE if pending else after
                pending.append((start, reader.submit(source.select_chain_inputs, start,
                                                     PAGE_SIZE)))

        top_up()
        while True:
            start, upcoming = pending.popleft()
            rows = upcoming.result()
            if start != after:
                for _, guess in pending:
                    guess.cancel()
                pending.clear()
                top_up()
                continue
            if not rows:
                return
            after = rows[-1].position
            top_up()
            yield rows


def _check_page(walk: _Walk, rows: list[ChainInput]) -> Problem | None:
    for row in rows:
        expected_position = walk.position + 1
        if row.position != expected_position:
            return Problem(expected_position, "missing", f"next stored position is {row.position}")
        stored = row.stored_link
        if stored is None:
            return Problem(row.position, "inserted", "event has no chain link")
        if expected_link(walk.link, row.position, row) != stored:
            return Problem(row.position, "altered", "link does not match the stored event")
        walk.accept(row, stored)
    return None


def _refine(source: ChainSource, walk: _Walk, problem: Problem) -> Problem:
    """Tell a reordered or inserted row from an altered one, looking at the neighbours."""
    p = problem.position
    low = max(1, p - REORDER_WINDOW)
    rows = {r.position: r for r in source.select_chain_inputs(low - 1, 2 * REORDER_WINDOW + 1)}
    links = dict(source.select_links(low - 2, p + REORDER_WINDOW, 2 * REORDER_WINDOW + 3))
    links[0] = GENESIS_LINK
    here = rows.get(p)
    following = rows.get(p + 1)
    if following is not None and expected_link(walk.link, p, following) == links.get(p):
        return Problem(p, "inserted", "a row was inserted here; the genuine event follows it")
    if here is not None:
        for q in range(low, p + REORDER_WINDOW + 1):
            if q != p and q - 1 in links and q in links:
                if expected_link(links[q - 1], q, here) == links[q]:
                    return Problem(p, "reordered", f"the event stored here belongs at {q}")
    return problem
