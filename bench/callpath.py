"""How many of the project's functions one POST /deductions enters, and in how many files.

A reading aid for the house's shape, not a timing: `python -m bench.callpath` builds the app
on a scratch SQLite file, warms it up with one deduction, then profiles a second one (with an
Idempotency-Key, as integrators send them) and prints each project function it entered.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ledger", "ledger_cli", "api", "projections", "persistence")


def project_file(filename: str) -> str | None:
    """The file's path inside the project's packages, or None for any other code."""
    try:
        relative = Path(filename).resolve().relative_to(ROOT)
    except ValueError:
        return None
    return str(relative) if relative.parts[0] in PACKAGES else None


def entered_during(run: Any) -> set[tuple[str, str]]:
    """(file, qualified name) of every project function that `run()` called."""
    seen: set[CodeType] = set()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            seen.add(frame.f_code)

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    found = {(project_file(c.co_filename), c.co_qualname) for c in seen}
    return {(f, name) for f, name in found if f is not None}


def deduction(day: str) -> dict[str, Any]:
    return {"manager_id": "M1", "rule_code": "B1", "occurrences": 1, "aggravated": False,
            "effective_on": day, "description": "visit not reported"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--list", action="store_true", help="print every function entered")
    parser.add_argument("--without-key", action="store_true",
                        help="send the measured request without an Idempotency-Key")
    args = parser.parse_args(argv)
    from api import create_app
    from persistence.schema import upgrade
    from persistence.tokens import TokenStore
    from persistence.url import environment_for

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/callpath.db"
        upgrade(url)
        app = create_app({"LEDGER_ENV": environment_for(url)})
        ledger = app.extensions["ledger"]
        ledger.ensure_rulebook()
        token = TokenStore.of(ledger).create(role="supervisor", subject="callpath")
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        client.post("/api/v1/managers", headers=auth,
                    json={"id": "M1", "name": "One", "grade": "B", "unit": "Branch 1"})
        client.post("/api/v1/deductions", headers={**auth, "Idempotency-Key": "warm"},
                    json=deduction("2026-02-01"))

        def post() -> None:
            key = {} if args.without_key else {"Idempotency-Key": "measured"}
            answer = client.post("/api/v1/deductions", json=deduction("2026-02-02"),
                                 headers={**auth, **key})
            assert answer.status_code == 201, answer.get_data(as_text=True)

        entered = entered_during(post)
    files = sorted({f for f, _ in entered})
    if args.list:
        for f, name in sorted(entered):
            print(f"{f}:{name}")
    print(f"POST /deductions entered {len(entered)} project functions in {len(files)} files")
    for f in files:
        print(f"  {f}: {sum(1 for g, _ in entered if g == f)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
