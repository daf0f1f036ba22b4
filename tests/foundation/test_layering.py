"""The dependency direction of the house style, checked on the real import graph."""

import subprocess
import sys

import pytest

CHECK = """
import importlib, pkgutil, sys
pkg = importlib.import_module({pkg!r})
for info in pkgutil.walk_packages(pkg.__path__, {pkg!r} + "."):
    importlib.import_module(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
print(",".join(bad))
"""


def imported(pkg: str, forbidden: set[str]) -> str:
    code = CHECK.format(pkg=pkg, forbidden=forbidden)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("pkg", ["optimizer", "enforcement"])
def test_optimizer_and_enforcement_import_no_faust_and_no_dash(pkg):
    assert imported(pkg, {"faust", "dash", "streams", "dashboard"}) == ""


@pytest.mark.parametrize("pkg", ["topis", "streams", "optimizer", "enforcement", "dashboard"])
def test_package_init_imports_nothing_heavy(pkg):
    code = f"import sys, {pkg}; print(','.join(m for m in ('faust', 'dash', 'numba', 'sqlalchemy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_dashboard_never_imports_the_agents():
    assert "streams.live.agents" not in imported("dashboard", {"streams"})
