"""The packages pass `mypy --strict` (the settings in pyproject.toml): types are part of CI.

mypy runs from the test environment's own interpreter over the product packages by name,
with its cache under the work tree's .mypy_cache (ignored by git), so a rerun takes seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TYPED_PACKAGES = ("ledger", "persistence", "projections", "api", "ledger_cli", "workspace")


def test_the_packages_are_clean_under_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *TYPED_PACKAGES],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert "No module named mypy" not in result.stderr, \
        "mypy is in the test extra: install with pip install -e '.[test]'"
    assert result.returncode == 0, result.stdout + result.stderr
