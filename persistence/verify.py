"""Recomputes the hash chain over the stored log and names every position that is wrong.

The log is read in bounded pages (events and chain links separately, merged here), so
memory stays flat however long the log is. After a wrong position the walk goes on from
the link stored there, so every independent failure is named (at most MAX_PROBLEMS), the
first one first. A wrong position is classified as:
- `missing`: the event at this position is gone (a deleted row or a truncated tail);
- `inserted`: a row the ledger did not write (no link of its own, or one that pushed
  the genuine rows down a position);
- `reordered`: the event here is genuine but belongs at another position;
- `altered`: anything else whose link does not match (a changed byte of a state, topic,
  version, originator or recording time, or a changed link);
- `unsealed`: no seal where a chain key is in force (the keyed layer, persistence/seal.py);
- `forged`: a seal by another key than the one in force, or, checked with the chain key,
  a seal that is not genuine: the row was not appended by a holder of the key, however
  plausible its link.
Without the chain key every kind is still found except a forgery that copies the key id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from persistence.records import GENESIS_LINK, ChainInput, LogRow, from_micros, link_from_parts
from persistence.seal import ANNOUNCING_TOPICS, Keyring, Seal

PAGE_SIZE = 10_000
REORDER_WINDOW = 64
"""How far either side of a bad position to look for the place a genuine event belongs."""
MAX_PROBLEMS = 100
"""A walk stops after naming this many wrong positions (the first one is what matters)."""


@dataclass(frozen=True)
class Problem:
    position: int
    kind: str  # missing | inserted | reordered | altered | unsealed | forged
    detail: str
    through: int = 0
    """The last position of a run this problem stands for (its own position if none)."""

    def __post_init__(self) -> None:
        if self.through < self.position:
            object.__setattr__(self, "through", self.position)


@dataclass(frozen=True)
class VerifyResult:
    """What a walk found. `head_*` describe the last stored position walked (the log's
    end); `problems` are the wrong positions in order, `first_bad` the first of them."""

    ok: bool
    checked: int
    head_position: int
    head_link: bytes
    head_recorded_at: datetime | None
    first_bad: Problem | None = None
    problems: tuple[Problem, ...] = ()
    keyed: bool = False
    """True when the seals were checked with the chain key(s), not only their order."""
    key_in_force: str | None = None


@runtime_checkable
class ChainSource(Protocol):
    """What verify needs from a recorder: pages of chain inputs and pages of links."""

    def select_chain_inputs(self, after: int, limit: int) -> list[ChainInput]: ...

    def select_links(
        self, after: int, up_to: int | None, limit: int
    ) -> list[tuple[int, bytes]]: ...


@runtime_checkable
class EventLog(ChainSource, Protocol):
    """Our recorders as auditors read them: the log page by page, its head, its chain, the
    signed heads kept beside it, and where a recording time cuts it."""

    def select_log(self, after: int, limit: int) -> list[LogRow]: ...

    def max_notification_id(self) -> int | None: ...

    def select_heads(self, limit: int) -> list[tuple[Any, ...]]: ...

    def position_known_at(self, instant: datetime) -> int: ...


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
    """The state of one pass along the log: where it stands and what it trusts there."""

    def __init__(self, keyring: Keyring | None) -> None:
        self.position = 0
        self.link: bytes | None = GENESIS_LINK  # None: unknown (a gap took its links too)
        self.recorded_micros: int | None = None
        self.checked = 0
        self.key_in_force: str | None = None
        self.keyring = keyring if keyring else None

    def accept(self, row: ChainInput, link: bytes | None) -> None:
        self.position, self.link, self.recorded_micros = row.position, link, row.recorded_micros
        self.checked += 1


def verify(
    source: ChainSource, progress: Callable[[int], object] | None = None,
    keyring: Keyring | None = None, limit: int = MAX_PROBLEMS,
) -> VerifyResult:
    """Walk the whole log and name every wrong position; with a keyring, check the seals.

    An empty keyring is no key: the seals' order is checked, not their MACs.
    """
    walk = _Walk(keyring)
    problems: list[Problem] = []
    for rows in _pages(source):
        at = _sound_prefix(walk, rows, 0)
        while at < len(rows):
            for problem in _step(source, walk, rows[at]):
                _note(problems, problem)
            if len(problems) >= limit:
                return _result(walk, problems[:limit])
            at = _sound_prefix(walk, rows, at + 1)
        if progress is not None:
            progress(len(rows))
    orphan = source.select_links(walk.position, None, 1)
    if orphan:
        # Links beyond the last event: the events of the tail were deleted.
        problems.append(Problem(walk.position + 1, "missing", "event gone, its link remains"))
    return _result(walk, problems[:limit])


def _note(problems: list[Problem], problem: Problem) -> None:
    """Add a problem; an insertion that shifted the rows after it is one problem, not one
    per shifted row (each genuine event then stands a position after its own link)."""
    last = problems[-1] if problems else None
    if (last is not None and problem.kind == last.kind == "inserted"
            and problem.position == last.through + 1):
        problems[-1] = Problem(last.position, "inserted", "a row was inserted here; the "
                               f"events at {last.position + 1}..{problem.position} are its "
                               "genuine ones, shifted by one", through=problem.position)
        return
    problems.append(problem)


def _result(walk: _Walk, problems: list[Problem]) -> VerifyResult:
    return VerifyResult(
        ok=not problems,
        checked=walk.checked,
        head_position=walk.position,
        head_link=walk.link or GENESIS_LINK,
        head_recorded_at=(
            None if walk.recorded_micros is None else from_micros(walk.recorded_micros)
        ),
        first_bad=problems[0] if problems else None,
        problems=tuple(problems),
        keyed=walk.keyring is not None,
        key_in_force=walk.key_in_force,
    )


def _sound_prefix(walk: _Walk, rows: list[ChainInput], start: int) -> int:
    """Accept rows from `start` on while they need no closer look (the next position, its
    link right, no key changing and no MAC to check); return the index it stopped at.

    The hot loop of verify, kept to local names: the rows it accepts are nearly all rows.
    """
    if walk.keyring is not None:
        return start
    position, link, key = walk.position, walk.link, walk.key_in_force
    at = start
    for row in rows[start:]:
        stored = row.stored_link
        if (link is None or stored is None or row.position != position + 1
                or row.key_id != key or (key is not None and row.seal is None)
                or row.topic in ANNOUNCING_TOPICS
                or link_from_parts(link, row.position, row.originator, row.originator_version,
                                   row.topic, row.state_digest, row.recorded_micros) != stored):
            break
        position, link, at = row.position, stored, at + 1
    if at > start:
        walk.position, walk.link = position, link
        walk.recorded_micros = rows[at - 1].recorded_micros
        walk.checked += at - start
    return at


def _step(source: ChainSource, walk: _Walk, row: ChainInput) -> list[Problem]:
    """Check one row against the walk, then move the walk onto it: onto its stored link
    when that is wrong, so that a later failure is found on its own."""
    found = []
    expected_position = walk.position + 1
    if row.position != expected_position:
        found.append(Problem(expected_position, "missing",
                             f"next stored position is {row.position}"))
        walk.link = _stored_link(source, row.position - 1)
    stored = row.stored_link
    if stored is None:
        found.append(Problem(row.position, "inserted", "event has no chain link"))
        walk.accept(row, walk.link)  # the next row must follow the last link
        return found
    if walk.link is not None and expected_link(walk.link, row.position, row) != stored:
        found.append(_refine(source, walk.link, Problem(
            row.position, "altered", "link does not match the stored event")))
    found.extend(_seal_problems(walk, row, stored))
    walk.accept(row, stored)
    return found


def _stored_link(source: ChainSource, position: int) -> bytes | None:
    if position == 0:
        return GENESIS_LINK
    links = source.select_links(position - 1, position, 1)
    return links[0][1] if links and links[0][0] == position else None


def _seal_problems(walk: _Walk, row: ChainInput, link: bytes) -> list[Problem]:
    """The keyed layer: every row is sealed from the first announcement on, with the key
    the latest announcement named; with a keyring, the seal's MAC is checked too."""
    announcing = row.topic in ANNOUNCING_TOPICS
    if row.key_id is None or row.seal is None:
        if walk.key_in_force is None and not announcing:
            return []  # Before the first key: the log is not sealed yet.
        return [Problem(row.position, "unsealed",
                        f"no seal, though key {walk.key_in_force or row.key_id} is in force")]
    if announcing:
        walk.key_in_force = row.key_id
    elif row.key_id != walk.key_in_force:
        return [Problem(row.position, "forged", f"sealed with key {row.key_id}, but key "
                        f"{walk.key_in_force} is in force and no rotation was recorded")]
    if walk.keyring is None:
        return []
    genuine = walk.keyring.check(Seal(row.key_id, row.seal), link)
    if genuine is None:
        return [Problem(row.position, "forged",
                        f"sealed with key {row.key_id}, which is not in the auditor's keyring")]
    if not genuine:
        return [Problem(row.position, "forged", f"the seal is not key {row.key_id}'s: "
                        "not appended by a holder of the chain key")]
    return []


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


def _refine(source: ChainSource, previous: bytes, problem: Problem) -> Problem:
    """Tell a reordered or inserted row from an altered one, looking at the neighbours."""
    p = problem.position
    low = max(1, p - REORDER_WINDOW)
    rows = {r.position: r for r in source.select_chain_inputs(low - 1, 2 * REORDER_WINDOW + 1)}
    links = dict(source.select_links(low - 2, p + REORDER_WINDOW, 2 * REORDER_WINDOW + 3))
    links[0] = GENESIS_LINK
    here = rows.get(p)
    following = rows.get(p + 1)
    if following is not None and expected_link(previous, p, following) == links.get(p):
        return Problem(p, "inserted", "a row was inserted here; the genuine event follows it")
    if here is not None:
        for q in range(low, p + REORDER_WINDOW + 1):
            if q != p and q - 1 in links and q in links:
                if expected_link(links[q - 1], q, here) == links[q]:
                    return Problem(p, "reordered", f"the event stored here belongs at {q}")
    return problem
