"""One walk through the roster page in real headless Chromium (Debian's package), driven over the
DevTools protocol on loopback with websocket-client: sign in, upload a roster, read the diff at
phone width, apply. REGTUI_UPDATE_SCREENSHOTS=1 copies the plan's screenshot to docs/staff-plan.png
(the README's picture)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from regtui.core.services import customers, operators, staff
from test_staff_web import PASSWORD, make_pool
from test_web import running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium package (.ci/run installs it)")
SCREENSHOT = ROOT / "docs" / "staff-plan.png"
PHONE = (412, 915)


class Chromium:
    """A headless Chromium and one page of it, spoken to over the DevTools protocol."""

    def __init__(self, profile: Path):
        import websocket

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-sync", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):  # Chromium writes it once listening
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        page = next(p for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=PHONE[0], height=PHONE[1], deviceScaleFactor=1, mobile=True)

    def send(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for_load(self) -> None:
        while True:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events):
                self.events.clear()
                return
            self.events.append(json.loads(self.ws.recv()))

    def go(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for_load()

    def js(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def click_and_load(self, selector: str) -> None:
        self.events.clear()
        self.js(f"document.querySelector({json.dumps(selector)}).click()")
        self.wait_for_load()

    def set_file(self, selector: str, path: Path) -> None:
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", files=[str(path)], nodeId=node)

    def text(self) -> str:
        return self.js("document.body.innerText")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_upload_diff_apply_in_chromium_at_phone_width(db, db_url, admin, tmp_path):
    make_pool(admin, "Tailspin Toys", "1001", seats_n=20)
    operators.set_operator(admin, "hana", "manager", customers.find("Tailspin Toys"))
    staff.set_password(admin, "hana", PASSWORD)
    roster = tmp_path / "spring-cohort.csv"
    roster.write_text("email,first_name,last_name,action\n"
                      "ada.lovelace@example.com,Ada,Lovelace,create\n"
                      "grace.hopper@example.com,Grace,Hopper,create\n"
                      "alan.turing@example.com,Alan,Turing,invite\n"
                      "katherine.johnson@example.com,Katherine,Johnson,invite\n", encoding="utf-8")
    db.close()
    with running(db_url) as (site, _):
        browser = Chromium(tmp_path / "profile")
        try:
            browser.go(site.base + "/staff/signin")
            assert browser.js("document.scripts.length") == 0  # the page has no JavaScript of its own
            browser.js("document.getElementById('name').value = 'hana';"
                       f"document.getElementById('password').value = {json.dumps(PASSWORD)}")
            browser.click_and_load("button[type=submit]")
            assert "hana (manager)" in browser.text() and "Tailspin Toys" in browser.text()

            browser.go(site.base + "/staff/rosters")
            browser.set_file("#roster", roster)
            browser.js("document.getElementById('pool').selectedIndex = 1")  # the roster has no pool column
            browser.click_and_load("form.stack button[type=submit]")
            text = browser.text()
            assert "Plan for pool" in text and "ada.lovelace@example.com" in text
            assert "20 available before, 16 after" in text
            # at phone width nothing but the table's own box scrolls sideways
            assert browser.js("document.documentElement.scrollWidth <= window.innerWidth + 1")
            shot = tmp_path / "staff-plan.png"
            browser.screenshot(shot)

            browser.click_and_load("form[action$='/apply'] button")
            done = browser.text()
            assert "Applied: batch" in done and "2 create, 0 assign, 2 invite" in done
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("REGTUI_UPDATE_SCREENSHOTS"):  # the README's picture: refreshed on request only
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, SCREENSHOT)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_learner_claims_a_seat_in_chromium(db, db_url, admin, tmp_path):
    """The claim form posts from a real browser (its Origin header must pass the same-origin check)."""
    from regtui.core.services import invitations
    from test_web import make_pool as make_claim_pool

    pool = make_claim_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    link = invitations.link(inv)
    db.close()
    with running(db_url) as (site, _):
        browser = Chromium(tmp_path / "profile")
        try:
            browser.go(site.url(link))
            fields = {"first_name": "Ada", "last_name": "Lovelace", "password": "correct horse battery",
                      "confirm": "correct horse battery"}
            browser.js(f"for (const [k, v] of Object.entries({json.dumps(fields)})) "
                       "{ const e = document.querySelector(`[name=${k}]`); if (e) e.value = v; }")
            browser.click_and_load("form button")
            text = browser.text()
            assert "only be sent from this site" not in text and "Forbidden" not in text, text
            assert "Ada" in text
        finally:
            browser.close()
