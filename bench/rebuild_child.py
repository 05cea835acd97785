"""The rebuild bench/rebuild.py measures, run in a child process so its memory is its own.

`python -m bench.rebuild_child URL [--page N]` runs one full live rebuild (facts, then the
live figures) of the ledger at URL and prints its timings as one line of JSON. It imports
only what a rebuild needs, so its resident set is the rebuild's and not the loader's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ledger.application import LedgerApplication
from persistence.url import environment_for
from projections import runner

FIGURES_STAGE = "managers"
"""The name `rebuild_live` reports when the facts are done and the live figures begin."""


def rebuild_once(url: str, page: int) -> dict[str, Any]:
    """Runs a full live rebuild here and reports its timings."""
    app = LedgerApplication(env=environment_for(url))
    marks: dict[str, float] = {}

    def stage(name: str, total: int) -> Callable[[int], None]:
        marks[name] = time.time()
        return lambda _n: None

    try:
        started = time.time()
        position = runner.rebuild_live(app, page=page, progress=stage)
        finished = time.time()
    finally:
        app.close()
    figures_started = marks.get(FIGURES_STAGE, finished)
    facts_seconds = figures_started - started
    return {
        # Wall-clock instants: the parent places its memory samples on the same clock.
        "facts_began_at": started,
        "figures_began_at": figures_started,
        "events": position,
        "seconds": round(finished - started, 3),
        "facts_seconds": round(facts_seconds, 3),
        "figures_seconds": round(finished - figures_started, 3),
        "page": page,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rebuild_child",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the ledger's database URL (the service role's)")
    parser.add_argument("--page", type=int, default=2000, help="events per page read")
    args = parser.parse_args(argv)
    print(json.dumps(rebuild_once(args.url, args.page)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
