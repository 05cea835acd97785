"""The project's own code passes ruff with the rules selected in pyproject.toml (style is
part of CI).

Ruff is given the package folders and the Python entry points of `scripts/` by name, never
`.`: a scratch file someone left in the work tree is not the project's code and cannot fail
CI, and `.venv/` (or any other folder beside the packages) is never read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ledger", "ledger_cli", "api", "projections", "persistence", "migrations", "bench",
            "workspace", "tests")


def python_scripts() -> list[str]:
    """The files of scripts/ that are Python (by shebang): thin entry points without a .py
    suffix, which ruff finds only when given by name."""
    found = []
    for path in sorted((ROOT / "scripts").iterdir()):
        if path.is_file():
            with path.open("rb") as file:
                first = file.readline()
            if first.startswith(b"#!") and b"python" in first:
                found.append(str(path.relative_to(ROOT)))
    return found


def lint_targets() -> list[str]:
    missing = [name for name in PACKAGES if not (ROOT / name).is_dir()]
    assert not missing, f"a linted package folder is gone (update PACKAGES): {missing}"
    return [*PACKAGES, *python_scripts()]


def test_the_packages_are_clean_under_the_selected_lint_rules() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff is not None, "ruff is in the test extra: install with pip install -e '.[test]'"
    result = subprocess.run([ruff, "check", *lint_targets()], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
