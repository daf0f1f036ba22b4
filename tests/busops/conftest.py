"""Fixtures of the bus-operations tests; the hand-made feed is in busops_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from busops_fixtures import WMATA, write_feed


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return write_feed(tmp_path_factory.mktemp("tiny") / "gtfs")


@pytest.fixture(scope="session")
def tiny_feed(tiny_dir):
    from streams.gtfs import load_feed

    return load_feed(tiny_dir)


@pytest.fixture(scope="session")
def wmata() -> Path:
    if not WMATA.exists():
        pytest.skip(f"WMATA reference data not found at {WMATA}")
    return WMATA

