"""Time from the README's first command to the wall page and to the first bus in the open feed.

Starts ``topis up`` (or ``make up`` with ``--make``, which includes the virtual
environment and the install: run it in a fresh clone to time a newcomer's first
run), polls http://127.0.0.1:8050 until the login page answers and the
GTFS-realtime VehiclePositions feed has a vehicle, then stops it as a terminal's
Ctrl-C would.

    python3 -m benchmarks.first_bus --make    # in a fresh clone (standard library only)
    .venv/bin/python -m benchmarks.first_bus  # topis up alone
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

BASE_URL = "http://127.0.0.1:8050"


def vehicles_in_feed() -> int:
    """Vehicles in the open feed now (0 if it does not answer yet)."""
    try:
        with urllib.request.urlopen(f"{BASE_URL}/api/gtfs-rt/vehicle-positions.pb?format=json", timeout=5) as r:
            return len(json.load(r).get("entity", []))
    except OSError:
        return 0


def page_answers() -> bool:
    try:
        with urllib.request.urlopen(f"{BASE_URL}/login", timeout=2):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", action="store_true", help="run `make up` (set-up included) instead of `topis up`")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args()
    if page_answers():
        sys.exit(f"something already answers at {BASE_URL}: stop it first")

    argv = ["make", "up"] if args.make else [sys.executable, "-m", "topis", "up"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    page_s = bus_s = None
    n = 0
    try:
        while time.monotonic() - t0 < args.timeout and proc.poll() is None:
            if page_s is None and page_answers():
                page_s = time.monotonic() - t0
            if page_s is not None:
                n = vehicles_in_feed()
                if n:
                    bus_s = time.monotonic() - t0
                    break
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        stop_t0 = time.monotonic()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stop_s = time.monotonic() - stop_t0

    def fmt(s: float | None) -> str:
        return "not reached" if s is None else f"{s:.1f} s"

    print(f"\n{' '.join(argv[-2:])}: wall page {fmt(page_s)}, first buses ({n}) in the open feed {fmt(bus_s)}, "
          f"Ctrl-C to exit {stop_s:.1f} s")


if __name__ == "__main__":
    main()
