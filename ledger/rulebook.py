"""The rule book: every rule-set version ever drafted, and the order of publication."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from threading import Lock
from typing import Any

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.errors import NotFound
from ledger.ids import rulebook_id
from ledger.rules import (
    FieldErrors,
    OnlyDraftedVersionsArePublished,
    VersionsAreDraftedOnce,
    VersionsArePublishedOnce,
    as_json_object,
    check,
)
from ledger.store import Assumed


class RuleBook(LedgerAggregate):
    """The one aggregate that holds all rule-set versions (id: `rulebook_id()`).

    Content is stored as the caller gives it; validating it against the rule-set
    document schema is the caller's job, before drafting.
    """

    class Opened(LedgerAggregate.Created):
        pass

    def __init__(self) -> None:
        # Body of the Opened event: assigns only, because it re-runs on every replay.
        self._effective_from: dict[str, date] = {}
        self._content: dict[str, dict[str, Any]] = {}
        self._published: list[str] = []

    @classmethod
    def open(cls) -> RuleBook:
        """Starts the ledger's rule book; done once, before the first draft."""
        return cls._create(cls.Opened, id=rulebook_id())

    def draft(self, *, version: str, effective_from: date, content: dict[str, Any]) -> None:
        """Drafts a new version; a version number is never reused."""
        errors = FieldErrors()
        errors.identifier("version", version)
        errors.day("effective_from", effective_from)
        errors.mapping("content", content)
        errors.raise_if_any()
        check(VersionsAreDraftedOnce(version, frozenset(self._content)))
        # Copied so that later changes to the caller's dict cannot reach the event.
        self._draft(version=version, effective_from=effective_from, content=as_json_object(content))

    @event("Drafted")
    def _draft(self, version: str, effective_from: date, content: dict[str, Any]) -> None:
        self._effective_from[version] = effective_from
        self._content[version] = content

    def publish(self, version: str) -> None:
        """Publishes a drafted version; from then on it is immutable and may be in force."""
        check(
            OnlyDraftedVersionsArePublished(version, frozenset(self._content)),
            VersionsArePublishedOnce(version, frozenset(self._published)),
        )
        self._publish(version=version)

    @event("Published")
    def _publish(self, version: str) -> None:
        self._published.append(version)

    def versions(self) -> list[str]:
        """Every drafted version (published or not), in drafting order."""
        return list(self._content)

    def published_versions(self) -> list[str]:
        """Published versions, in publication order."""
        return list(self._published)

    def is_published(self, version: str) -> bool:
        return version in self._published

    def effective_from_of(self, version: str) -> date:
        self._require(version)
        return self._effective_from[version]

    def content_of(self, version: str) -> dict[str, Any]:
        """A copy of the version's content, so callers cannot alter the book."""
        self._require(version)
        return as_json_object(self._content[version])

    def in_force_for(self, first_day: date) -> str | None:
        """The version in force for a period starting on `first_day`.

        The most recently *published* version whose effective_from is on or
        before that day wins, so a later publication with an earlier date
        changes past periods (a retroactive rule change).
        """
        for version in reversed(self._published):
            if self._effective_from[version] <= first_day:
                return version
        return None

    def _require(self, version: str) -> None:
        if version not in self._content:
            raise NotFound(f"no rule-set version {version}")


@dataclass
class _Judgement:
    """What one command (and its answer) read of the kept book, and whether it is proved."""

    book: RuleBook | None = None
    proved: bool = False
    appended: bool = False


class KeptRuleBook:
    """The rule book a process reads from, replayed only when the log holds a newer event
    of it.

    Every command and answer asks which rule set is in force; replaying the book (every
    version's content, parsed from JSON) for each of them cost a quarter of a request.
    The book changes only by its own events, so the kept book is current while the log
    holds no event of it after the kept version. Outside a command each read proves that
    with one probe (an index lookup that returns no row). A command is judged by the kept
    book as it stands, and its append proves it: the append reads the book's version
    under its lock and writes nothing if it moved (`assumed`, ledger.store.Assumed), so an
    accepted command costs no probe; one that appends nothing (a refusal, a repeat)
    probes once at its end (`outdated`). Either way a draft or publication by this
    process or any other is seen, and a command judged by an outdated book runs again.
    The kept book is shared: callers read it and never change it (commands that change
    the book load their own).
    """

    def __init__(self, load: Callable[[], RuleBook],
                 has_events_after: Callable[[int], bool]) -> None:
        self._load = load
        self._has_events_after = has_events_after
        self._kept: RuleBook | None = None
        self._lock = Lock()
        # Inside `held()`: what this command read of the book (None: outside a command).
        self._held: ContextVar[_Judgement | None] = ContextVar(
            f"held_rulebook_{id(self)}", default=None)

    def current(self) -> RuleBook:
        held = self._held.get()
        if held is None:
            return self._current()
        if held.book is None:
            if held.appended:
                # Read after this command appended: no append of it can prove the book, so
                # it is proved now, as outside a command.
                held.book, held.proved = self._current(), True
            else:
                kept = self._kept
                held.book = kept if kept is not None else self._current()
        return held.book

    @contextmanager
    def held(self) -> Iterator[None]:
        """One book for a whole command and its answer: the first `current()` inside
        takes the kept book, and the rest of the command reads that same book.

        A command and its answer asked twice (its rule set, then the answer's dispute
        deadline). Reading one book throughout is also the more exact answer: the rule
        set the command chose is the one its answer describes. Nested scopes share the
        outer one's book.
        """
        if self._held.get() is not None:
            yield
            return
        token = self._held.set(_Judgement())
        try:
            yield
        finally:
            self._held.reset(token)

    def assumed(self) -> Assumed | None:
        """What the command's next append must find in the log: the book it was judged by,
        while nothing proved that book current (None: nothing to check)."""
        held = self._held.get()
        if held is None or held.book is None or held.proved or held.appended:
            return None
        return Assumed(held.book.id, held.book.version)

    def appended(self, *, checked: bool) -> None:
        """The command appended; `checked`: its append found the book it was judged by."""
        held = self._held.get()
        if held is not None:
            held.appended = True
            held.proved = held.proved or checked

    def outdated(self) -> bool:
        """At the end of a command: was it judged by a book that the log has moved past?
        One probe, only when the command read the book and no append proved it; an
        outdated book is replayed, for the command to run again."""
        held = self._held.get()
        if held is None or held.book is None or held.proved:
            return False
        if not self._has_events_after(held.book.version):
            held.proved = True
            return False
        self.refresh(held.book)
        return True

    def moved(self) -> None:
        """The command's append found the book it was judged by outdated."""
        held = self._held.get()
        if held is not None and held.book is not None:
            self.refresh(held.book)

    def refresh(self, read: RuleBook) -> None:
        """`read` is outdated (a probe or an append said so): replay the book once."""
        with self._lock:  # one replay for the threads that found the book stale together
            if self._kept is read or self._kept is None:
                self._kept = self._load()

    def changed(self) -> None:
        """This command saved the book: what it held is no longer proved current."""
        held = self._held.get()
        if held is not None:
            held.book, held.proved = None, False

    def _current(self) -> RuleBook:
        kept = self._kept
        if kept is not None and not self._has_events_after(kept.version):
            return kept
        with self._lock:  # one replay for the threads that found the book stale together
            if self._kept is kept or self._kept is None:
                self._kept = self._load()
            return self._kept
