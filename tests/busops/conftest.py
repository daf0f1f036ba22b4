"""Fixtures of the bus-operations tests; the hand-made feed is in busops_fixtures.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the test modules share plain helpers in busops_fixtures.py; with --import-mode=importlib
# pytest does not put this folder on sys.path, so do it here (conftest loads first)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from busops_fixtures import WMATA, write_feed  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return write_feed(tmp_path_factory.mktemp("tiny") / "gtfs")


@pytest.fixture(scope="session")
def tiny_feed(tiny_dir):
    from streams.bus.gtfs import load_feed

    return load_feed(tiny_dir)


@pytest.fixture(scope="session")
def wmata() -> Path:
    if not WMATA.exists():
        pytest.skip(f"WMATA reference data not found at {WMATA}")
    return WMATA

