"""Suite-wide hooks: say loudly when the PostgreSQL half of the suite did not run."""

from __future__ import annotations

from typing import Any

import dbsupport


def pytest_terminal_summary(terminalreporter: Any) -> None:
    problem = dbsupport._postgres_problem()
    if problem is not None:
        terminalreporter.write_sep("!", "POSTGRESQL TESTS DID NOT RUN", red=True, bold=True)
        terminalreporter.write_line(problem)
        terminalreporter.write_line("Under CI=true these tests fail instead of skipping.")
