"""Shared fixtures: the real embedded broker, the reference data, a headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
ARTIFACTS = REPO / "artifacts"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests needing it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (clone with ../shared beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedded_broker():
    """A real Tansu broker on a free loopback port, with topis's topics, for the whole session."""
    yield from _embedded_broker()


@pytest.fixture
def fresh_broker():
    """A Tansu broker of this test's own: for tests that read a topic from its beginning.

    The session's ``embedded_broker`` carries what every earlier test
    published (``topis up`` runs, simulations of other cities); a consumer group
    that starts at the earliest offset would read all of it.
    """
    yield from _embedded_broker()


def _embedded_broker():
    from topis.broker import running_broker
    from topis.settings import BrokerSettings

    with running_broker(BrokerSettings(url="embedded")) as broker:
        yield broker


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser tests save screenshots (kept by CI as test artifacts)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def chromium(tmp_path):
    """A headless Debian Chromium driven by Debian's chromedriver (never a downloaded browser)."""
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.path.exists(binary) and os.path.exists(driver_path)):
        pytest.fail("Debian chromium and chromium-driver are required: run `make test`, which installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--enable-unsafe-swiftshader", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1600,1000", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
