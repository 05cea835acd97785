"""/docs in a real browser (issue 20): Debian's chromium renders Swagger UI over the
document under the app's CSP, loading every file from the app and nothing from outside."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbsupport import in_ci

ROOT = Path(__file__).resolve().parents[2]
LEDGER = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1800")

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    env = dict(os.environ, LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db")
    subprocess.run([*LEDGER, "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    port = _free_port()
    process = subprocess.Popen([*LEDGER, "serve", "--port", str(port), "--workers", "1"],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None and time.monotonic() < deadline
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_swagger_ui_renders_every_operation_under_the_csp_from_the_app_alone(
    base: str, tmp_path: Path,
) -> None:
    if not CHROMEDRIVER.exists() or not CHROMIUM.exists():
        if in_ci():
            pytest.fail("chromium and chromium-driver are not installed")
        pytest.skip("chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)),
                              options=options)
    try:
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
    finally:
        driver.quit()
