"""End to end in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven
by Selenium without Selenium Manager) rates by click and by keyboard in both modes; then the
ratings file and the report section are checked. Screenshots go to pytest's tmp path (and to
``$LGM_SCREENSHOTS_DIR`` when set, e.g. ``docs``)."""

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # analysis_fixtures, any import mode

from analysis_fixtures import make_study  # noqa: E402

from analysis.rating.server import address, make_server, start_in_thread  # noqa: E402
from analysis.rating.session import RatingSession  # noqa: E402
from analysis.rating.store import RATINGS_FILE  # noqa: E402
from analysis.report import SECTION_TITLES, build_report  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--window-size=1366,768")
WAIT_S = 30

pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=f"{CHROMIUM} / {CHROMEDRIVER} not installed (apt-get install -y chromium chromium-driver; "
           f".ci/run installs them)")


@pytest.fixture()
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    previous = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(1366, 768)
    yield driver
    driver.quit()
    if previous is None:
        os.environ.pop("SE_OFFLINE", None)
    else:
        os.environ["SE_OFFLINE"] = previous


def _serve(session):
    server = make_server(session, host="127.0.0.1", port=0)
    start_in_thread(server)
    return server


def _wait_ready(driver, answered: int):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element("id", "count").text.startswith(f"{answered} answered here")
        and "ready" in d.find_element("tag name", "body").get_attribute("class"))


def _press(driver, key):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def _click(driver, choice):
    driver.find_element("css selector", f'button[data-choice="{choice}"]').click()


def _screenshot(driver, tmp_path, name):
    path = tmp_path / name
    driver.save_screenshot(str(path))
    if os.environ.get("LGM_SCREENSHOTS_DIR"):
        shutil.copyfile(path, Path(os.environ["LGM_SCREENSHOTS_DIR"]) / name)
    return path


def _lines(root):
    return [json.loads(line) for line in (root / RATINGS_FILE).read_text().splitlines()]


def _rate_pairs(browser, study, tmp_path):
    """Four answers in pairs mode: click, arrow key, (reload), space, click."""
    from selenium.webdriver.common.keys import Keys

    session = RatingSession(study, sweep="vae_beta", seed=0)
    server = _serve(session)
    try:
        browser.get(address(server))
        _wait_ready(browser, 0)
        name = browser.find_element("id", "rater")
        name.send_keys("Ada ← →")   # arrows typed into the name must not answer
        name.send_keys(Keys.ARROW_LEFT, Keys.ARROW_RIGHT, Keys.ENTER)  # Enter leaves the field
        grids = browser.find_elements("css selector", "#stage img")
        assert len(grids) == 2 and grids[0].location["y"] == grids[1].location["y"]
        assert all(g.size["width"] >= 450 and g.size["height"] >= 450 for g in grids)  # large on a laptop
        assert grids[0].location["x"] + grids[0].size["width"] <= grids[1].location["x"]
        _screenshot(browser, tmp_path, "rating_pairs.png")
        _click(browser, "left")
        _wait_ready(browser, 1)
        _press(browser, Keys.ARROW_RIGHT)
        _wait_ready(browser, 2)
        browser.refresh()              # closing the page loses nothing; the name is remembered
        _wait_ready(browser, 2)
        assert browser.find_element("id", "rater").get_attribute("value") == "Ada ← →"
        _press(browser, Keys.SPACE)
        _wait_ready(browser, 3)
        _click(browser, "right")
        _wait_ready(browser, 4)
    finally:
        server.shutdown()
        server.server_close()
    lines = [e for e in _lines(study) if e["mode"] == "pairs"]
    assert [e["choice"] for e in lines] == ["left", "right", "can't tell", "right"]
    assert all(e["rater"] == "Ada ← →" and e["sweep"] == "vae_beta" and e["response_ms"] > 0 for e in lines)
    pairs = [frozenset(session.config_of[e[side]].label for side in ("left", "right")) for e in lines]
    assert all(len(p) == 2 for p in pairs) and len(set(pairs[:3])) == 3  # all 3 pairs before a repeat


def _rate_real_or_fake(browser, study, tmp_path):
    """Four answers in real-or-fake mode: r, g, then the two buttons."""
    server = _serve(RatingSession(study, mode="real-or-fake", sweep="gan_scaling", seed=1))
    try:
        browser.get(address(server))
        _wait_ready(browser, 0)
        name = browser.find_element("id", "rater")
        name.clear()
        name.send_keys("Greg")      # r and g typed into the name must not answer
        name.send_keys("\n")        # Enter leaves the field
        image = browser.find_element("css selector", "#stage img")
        assert image.size["width"] >= 400
        _screenshot(browser, tmp_path, "rating_real_or_fake.png")
        _press(browser, "r")
        _wait_ready(browser, 1)
        _press(browser, "g")
        _wait_ready(browser, 2)
        _click(browser, "real")
        _wait_ready(browser, 3)
        _click(browser, "generated")
        _wait_ready(browser, 4)
    finally:
        server.shutdown()
        server.server_close()
    lines = [e for e in _lines(study) if e["mode"] == "real-or-fake"]
    assert [e["choice"] for e in lines] == ["real", "generated", "real", "generated"]
    assert all(e["rater"] == "Greg" and e["truth"] in ("real", "generated") for e in lines)
    assert all((e["run"] == "real") == (e["truth"] == "real") for e in lines)


def test_rate_in_the_browser_then_report(browser, tmp_path):
    study = make_study(tmp_path / "runs")
    _rate_pairs(browser, study, tmp_path)
    _rate_real_or_fake(browser, study, tmp_path)
    build_report(study, tmp_path / "report", resamples=200)
    md = (tmp_path / "report" / "report.md").read_text()
    vae = md[md.index("## Sweep `vae_beta`"):]
    vae = vae[vae.index(f"### {SECTION_TITLES[4]}"):]
    assert "**4 pair judgments** (1 \"can't tell\") over 3 configuration pairs" in vae
    assert re.search(r"\| eval/fid \| lower \| -?\d(\.\d+)? \[", vae)   # a τ with its interval
    gan = md[md.index("## Sweep `gan_scaling`"):md.index("## Sweep `gan_width`")]
    assert "**4 real-or-fake answers**" in gan and "real test images (reference)" in gan
