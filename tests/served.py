"""What the tests that talk to a real server share: a free port on loopback, waiting until
a started server answers, and Debian's headless chromium driven through its own
chromedriver (nothing is downloaded; `scripts/test` installs both)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dbsupport import in_ci

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
# As root chromium needs --no-sandbox; the network flags keep it from calling out of a
# closed machine; --disable-dev-shm-usage because containers give /dev/shm 64 MB.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--window-size=1280,1800")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ready(url: str, process: subprocess.Popen[Any], seconds: float = 30) -> None:
    """Until `url` answers; fails if the process exits first or the time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server behind {url} exited early"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds} s")


@contextmanager
def chromium(profile: Path, *arguments: str, prefs: dict[str, Any] | None = None,
             capabilities: dict[str, Any] | None = None) -> Iterator[Any]:
    """Headless chromium with a fresh profile; skipped where it is missing, failed in CI."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not CHROMEDRIVER.exists() or not CHROMIUM.exists():
        message = "chromium and chromium-driver are not installed (scripts/test installs them)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments):
        options.add_argument(flag)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
