"""/docs in a real browser (issue 20): Debian's chromium renders Swagger UI over the
document under the app's CSP, loading every file from the app and nothing from outside."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from served import chromium, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
LEDGER = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    env = dict(os.environ, LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db")
    subprocess.run([*LEDGER, "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    port = free_port()
    process = subprocess.Popen([*LEDGER, "serve", "--port", str(port), "--workers", "1"],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url + "/healthz", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_swagger_ui_renders_every_operation_under_the_csp_from_the_app_alone(
    base: str, tmp_path: Path,
) -> None:
    with chromium(tmp_path / "profile",
                  capabilities={"goog:loggingPrefs": {"browser": "ALL"}}) as driver:
        driver.get(base + "/docs")
        WebDriverWait(driver, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 50)
        operations = driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
        assert "/api/v1/managers/{manager_id}/score" in {o.text.replace("\u200b", "")
                                                         for o in operations}
        assert driver.find_elements(By.CSS_SELECTOR, ".btn.authorize")  # bearer tokens
        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(url.startswith(base + "/") for url in loaded), loaded
        refused = [entry["message"] for entry in driver.get_log("browser")
                   if "Content Security Policy" in entry["message"]
                   or entry["level"] == "SEVERE"]
        assert not refused, refused
