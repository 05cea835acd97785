"""The workspace in a real browser (DESIGN §15, issue 17's "done when"): Debian's chromium,
driven by its own chromedriver at /usr/bin/chromedriver through selenium (nothing is
downloaded; `scripts/test` installs both), against `ledger serve` on loopback.

The worked example of DESIGN §4, by people: M1 signs in through the form and reads 740,
disputes S3; a second supervisor signs in, opens the dispute from the queue and upholds
it; M1 reads 940, moves known_at back to before the decision and reads 740, then switches
to Chinese and reads the score's Chinese label. A screenshot of each page goes into a
temporary directory whose path the test prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from served import chromium, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
LEDGER = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
PRINCIPALS = {"supervisor": ["--role", "supervisor", "--subject", "sup-1"],
              "reviewer": ["--role", "supervisor", "--subject", "sup-2"],
              "integrator": ["--role", "integrator", "--subject", "credit"],
              "m1": ["--role", "manager", "--subject", "m1-user", "--manager-id", "M1"]}
Q1 = "period=2026Q1&as_of=2026-03-31"
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


@dataclass
class Served:
    base: str
    tokens: dict[str, str]

    def call(self, method: str, path: str, who: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base + "/api/v1" + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.tokens[who]}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`ledger serve` (2 workers) on a fresh SQLite file, secrets generated beside it."""
    env = dict(os.environ, LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db")
    env.pop("LEDGER_SECRET_KEY", None)
    env.pop("LEDGER_STATEMENT_KEY", None)
    subprocess.run([*LEDGER, "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    tokens = {name: subprocess.run([*LEDGER, "token", "create", *args], env=env, cwd=ROOT,
                                   check=True, capture_output=True, text=True).stdout.strip()
              for name, args in PRINCIPALS.items()}
    port = free_port()
    process = subprocess.Popen(
        [*LEDGER, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", process)
        yield Served(f"http://127.0.0.1:{port}", tokens)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless chromium through the distribution's chromedriver, with a fresh profile."""
    with chromium(tmp_path / "profile", "--lang=en-US",
                  prefs={"intl.accept_languages": "en-US,en"}) as driver:
        yield driver


def worked_example(served: Served) -> None:
    """DESIGN §4 through the API: M1 (grade B), C1–C3 all quarter, Q1 postings, B1 C7 S3."""
    served.call("POST", "/managers", "supervisor",
                {"id": "M1", "name": "李伟", "grade": "B", "unit": "Branch 1"})
    for cid, last_year in (("C1", "400000"), ("C2", "200000"), ("C3", "150000")):
        served.call("POST", "/customers", "supervisor", {
            "id": cid, "name": cid, "class": "good", "industry": "retail",
            "chain": None, "group": None, "last_year_contribution": last_year})
        served.call("POST", f"/customers/{cid}/assignments", "supervisor",
                    {"manager_id": "M1", "effective_on": "2026-01-01", "reason": "opening"})
    served.call("PUT", "/managers/M1/targets/2026Q1", "supervisor",
                {"incremental": "50000", "reason": "plan"})
    for n, (cid, amount) in enumerate((("C1", "120000"), ("C2", "60000"), ("C3", "70000"))):
        served.call("POST", "/contributions", "integrator", {
            "customer_id": cid, "booked_on": "2026-02-15", "interest_income": amount,
            "deposit_earnings": "0", "fee_income": "0", "source_system": "CREDIT",
            "external_id": f"P{n}"})
    for code in ("B1", "C7", "S3"):
        served.call("POST", "/deductions", "supervisor", {
            "manager_id": "M1", "rule_code": code, "occurrences": 1, "aggravated": False,
            "effective_on": "2026-02-01", "description": f"{code} found in review"})


class Person:
    """One person at the browser: signs in through the form, reads and sends pages."""

    def __init__(self, driver: WebDriver, served: Served, shots: Path) -> None:
        self.driver, self.served, self.shots = driver, served, shots
        self.taken = 0

    def open(self, path: str) -> None:
        self.driver.get(self.served.base + path)

    def sign_in(self, who: str, then: str) -> None:
        self.open(then)  # not signed in: the page sends us to the form, and back
        self.wait_for(By.ID, "token").send_keys(self.served.tokens[who])
        self.shot(f"sign-in-{who}")
        self.submit("sign-in")
        self.wait_for(By.ID, "sign-out")

    def sign_out(self) -> None:
        self.submit("sign-out")
        self.wait_for(By.ID, "token")

    def submit(self, element_id: str) -> None:
        """Clicks a form's button and waits until the next page has replaced this one."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.ID, element_id).click()
        WebDriverWait(self.driver, 15).until(expected_conditions.staleness_of(page))

    def text(self, element_id: str) -> str:
        return str(self.wait_for(By.ID, element_id).text)

    def wait_for(self, by: str, value: str) -> Any:
        return WebDriverWait(self.driver, 15).until(
            expected_conditions.presence_of_element_located((by, value)))

    def shot(self, name: str) -> None:
        self.taken += 1
        self.driver.save_screenshot(str(self.shots / f"{self.taken:02d}-{name}.png"))


def test_the_worked_example_by_people_in_a_real_browser(
        served: Served, browser: WebDriver, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    shots = Path(tempfile.mkdtemp(prefix="workspace-screenshots-"))
    worked_example(served)
    person = Person(browser, served, shots)
    quarter = f"/app/managers/M1?{Q1}"

    # M1 signs in through the form, lands on the quarter and reads 740 and its pay.
    person.sign_in("m1", quarter)
    assert person.text("score") == "740"
    assert person.text("actual-pay") == "32365.00"
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg a.step")) == 3
    person.shot("quarter-740")

    # M1 disputes S3 with a reason; the page comes back with the dispute's due date.
    browser.find_element(By.CSS_SELECTOR, "#deductions form.dispute input[name=reason]")
    s3_form = browser.find_element(By.ID, "dispute-S3").find_element(By.XPATH, "..")
    s3_form.find_element(By.NAME, "reason").send_keys("the complaint was withdrawn")
    person.submit("dispute-S3")
    assert "a decision is due by" in browser.find_element(By.CSS_SELECTOR, ".flashes").text
    person.shot("dispute-filed")
    known_before_decision = datetime.now(UTC).isoformat(timespec="microseconds")
    person.sign_out()

    # Another supervisor (not the recorder) opens the dispute from the queue and upholds it.
    time.sleep(0.05)  # the decision is recorded strictly after known_before_decision
    person.sign_in("reviewer", "/app/queues/disputes")
    person.shot("queue")
    person.wait_for(By.CSS_SELECTOR, "a[href^='/app/disputes/']").click()
    Select(person.wait_for(By.ID, "outcome")).select_by_value("upheld")
    browser.find_element(By.ID, "reason").send_keys("the customer withdrew the complaint")
    person.shot("dispute-page")
    person.submit("decide")
    assert person.text("dispute-outcome")
    person.shot("dispute-decided")
    person.sign_out()

    # M1 reads 940; with known_at before the decision the page still answers 740.
    person.sign_in("m1", quarter)
    assert person.text("score") == "940"
    person.shot("quarter-940")
    picker = browser.find_element(By.ID, "known_at")
    picker.clear()
    picker.send_keys(known_before_decision)
    person.submit("show")
    assert "known_at=" in browser.current_url
    assert person.text("score") == "740"
    person.shot("quarter-known-before-740")

    # M1 switches to Chinese: the score's label and the catalog's titles in seed 002's words.
    person.submit("lang-zh_CN")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert "管理考核得分" in browser.find_element(By.ID, "score-heading").find_element(
        By.XPATH, "..").text
    assert "未按要求拜访客户或拜访后未及时报告" in browser.page_source
    assert person.text("score") == "740"  # the switch keeps the cut
    person.shot("quarter-zh-CN")

    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\nworkspace browser test: {elapsed:.1f} s, {person.taken} screenshots in "
              f"{shots}")
