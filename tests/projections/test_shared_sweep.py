"""A rebuild's sweep shared with a forked helper (projections/materialised.py `_Helper`)
gives the rows one sweeper gives, every page swept once, and when the helper fails its
pages are swept by the parent: every read-model table compared by checksum, on PostgreSQL
(the only back end whose rebuild shares its pages)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.application import LedgerApplication
from ledger.demo import load_demo
from projections import materialised, runner
from projections.materialised import FigureView

pytestmark = pytest.mark.postgres


@pytest.fixture
def demo_bank(postgres_ledger: LedgerApplication) -> Iterator[LedgerApplication]:
    load_demo(postgres_ledger)
    yield postgres_ledger
    postgres_ledger.close()


def _alone(app: LedgerApplication, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    with monkeypatch.context() as m:
        m.setattr(runner, "SWEEPERS", 1)
        runner.rebuild_live(app, page=7)
    return runner.checksums(app)


def _pages_swept_by(monkeypatch: pytest.MonkeyPatch, log: Path, fail_in_helper: bool) -> None:
    """Each swept page's first manager and the sweeping process's id go to `log` (a file,
    so the forked helper's pages are seen too); the helper may be made to fail."""
    parent = os.getpid()
    sweep_page = FigureView._sweep_page

    def logged(view: FigureView, page: list[str], at: int) -> bool:
        if fail_in_helper and os.getpid() != parent:
            raise RuntimeError("the helper fails")
        with log.open("a") as out:
            out.write(f"{os.getpid()} {page[0]}\n")
        return sweep_page(view, page, at)

    monkeypatch.setattr(FigureView, "_sweep_page", logged)
    # One manager a page: the demo bank's three managers make three pages.
    monkeypatch.setattr(materialised, "MANAGERS_PER_PAGE", 1)


def _swept(log: Path) -> list[tuple[int, str]]:
    return [(int(pid), first) for pid, first in (line.split() for line in log.read_text()
                                                 .splitlines())]


def test_a_shared_sweep_gives_one_sweepers_rows_each_page_once(
    demo_bank: LedgerApplication, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alone = _alone(demo_bank, monkeypatch)
    log = tmp_path / "pages"
    _pages_swept_by(monkeypatch, log, fail_in_helper=False)
    counted: list[int] = []
    runner.rebuild_live(demo_bank, page=7,
                        progress=lambda stage, total: counted.append if stage == "managers"
                        else (lambda n: None))
    assert runner.checksums(demo_bank) == alone
    swept = _swept(log)
    assert sorted(first for _, first in swept) == ["M1", "M2", "M3"]
    assert {pid for pid, first in swept if first == "M2"} != {os.getpid()}
    assert {pid for pid, first in swept if first != "M2"} == {os.getpid()}
    assert sum(counted) == 3  # the helper's pages are reported when it is done


def test_a_failed_helpers_pages_are_swept_by_the_parent(
    demo_bank: LedgerApplication, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alone = _alone(demo_bank, monkeypatch)
    log = tmp_path / "pages"
    _pages_swept_by(monkeypatch, log, fail_in_helper=True)
    runner.rebuild_live(demo_bank, page=7)
    assert runner.checksums(demo_bank) == alone
    # Its own pages first, then every page again (those found done are skipped).
    assert {first for pid, first in _swept(log) if pid == os.getpid()} == {"M1", "M2", "M3"}
