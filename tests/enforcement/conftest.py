"""Fixtures of the enforcement tests: a hand-made mini city and case stores on real databases."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from enforcement.engine import RuleBook
from enforcement.rules import Camera, Vehicle
from enforcement.store import CaseStore
from topis.settings import EnforcementSettings

SEOUL = ZoneInfo("Asia/Seoul")
PG_BIN = Path(os.environ.get("TOPIS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def kst(y, mo, d, h, mi=0, s=0.0) -> float:
    """Epoch seconds of a Seoul wall-clock time."""
    whole = int(s)
    return dt.datetime(y, mo, d, h, mi, whole, tzinfo=SEOUL).timestamp() + (s - whole)


CAMERAS = {
    c.camera_id: c
    for c in (
        Camera("BM1", 37.5700, 126.9800, "median", area="Jung-gu"),
        Camera("BF1", 37.5710, 126.9810, "roadside_full", area="Jung-gu"),
        Camera("BP1", 37.5720, 126.9820, "roadside_part", area="Jongno-gu"),
        Camera("G1", 37.5730, 126.9830, green_zone_entry=True, area="Jongno-gu"),
        Camera("G2", 37.5740, 126.9840, green_zone_entry=True, area="Jongno-gu"),
        Camera("S1A", 37.5000, 127.0000, section_id="S1", section_role="entry", section_length_m=2000.0,
               section_limit_kph=60.0),  # fmt: skip
        Camera("S1B", 37.5100, 127.0100, section_id="S1", section_role="exit", section_length_m=2000.0,
               section_limit_kph=60.0),  # fmt: skip
        Camera("N1", 37.5600, 126.9700, no_stopping=True, area="Jung-gu"),
        Camera("P1", 37.5650, 126.9750),  # plain counting camera, no rule
    )
}
REGISTRY = {
    v.plate: v
    for v in (
        Vehicle("12가3456", "car", 2),
        Vehicle("34나5678", "truck", 5),
        Vehicle("56다7890", "bus", 3),
        Vehicle("78라1234", "emergency", 5),
        Vehicle("90마5678", "car", 5, exempt=True),
        Vehicle("11바2222", "car", 1, watch=True),
        Vehicle("22사3333", "van", 4),
    )
}


@pytest.fixture
def settings() -> EnforcementSettings:
    return EnforcementSettings(hmac_key="test-key")


@pytest.fixture
def rulebook(settings) -> RuleBook:
    return RuleBook(CAMERAS, REGISTRY, settings=settings)


@pytest.fixture
def sqlite_store(tmp_path):
    store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    yield store
    store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL cluster on a free loopback port; yields its base URL."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install -y postgresql)")
    root = Path(tempfile.mkdtemp(prefix="topis-pg-"))
    data, sock_dir = root / "data", root / "sock"
    sock_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock_dir, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True)  # fmt: skip
    opts = f"-p {port} -k {sock_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
                                 "-w", "start"]), check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


_schema_numbers = itertools.count()


@pytest.fixture
def pg_store(pg_server):
    """A CaseStore on a fresh schema of the throwaway cluster (cheaper than a database per test)."""
    import psycopg

    schema = f"t{os.getpid()}_{next(_schema_numbers)}"
    conninfo = pg_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = CaseStore(f"{pg_server}/postgres?options=-csearch_path%3D{schema}")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request):
    """The case store on a real SQLite file and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_store")
    return request.getfixturevalue("pg_store")


@pytest.fixture(name="kst")
def kst_fixture():
    """``kst(y, mo, d, h, mi=0, s=0)`` → epoch seconds of a Seoul wall-clock time."""
    return kst
