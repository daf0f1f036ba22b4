"""The evaluator reproduces every published route set's figures to 2 decimals."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from optimizer.evaluate import RouteLimits, att_lower_bound, evaluate
from optimizer.instance import load_instance

TRNDP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "trndp"
LIMITS = {"Mandl": (2, 8), "Mumford0": (2, 15), "Mumford1": (10, 30)}

pytestmark = pytest.mark.skipif(not TRNDP.is_dir(), reason=f"reference data not found at {TRNDP}")


def _mumford_sets():
    text = (TRNDP / "mumford2013_best_route_sets.txt").read_text()
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        title, *lines = block.strip().splitlines()
        routes = [[int(v) - 1 for v in line.split()] for line in lines if line.strip()]
        instance = next((name for name in ("Mumford0", "Mumford1") if name in title), "Mandl")
        table = "Table III" if "[TableIII]" in title else "Table IV"
        perspective = "best operator" if "operator" in title else "best passenger"
        yield pytest.param(instance, routes, ("Mumford (2013) CEC " + table, perspective), id=title[:60])


def _arbex_sets():
    # title -> (source prefix in published_results.csv, route count)
    wanted = {
        "Chew and Lee (2013) {} routes passenger": "Chew Lee & Seow (2013)",
        "Kechagiopoulus (2014) Best {} routes": "Kechagiopoulos & Beligiannis (2014)",
        "Kilic and Gok (2014) 4 Lines HC": "Kilic & Gok (2014) HC",
        "Kilic and Gok (2014) {} Lines TS": "Kilic & Gok (2014) TS",
    }
    lines = (TRNDP / "arbex_literature_solutions_for_mandl1_20181025.txt").read_text().splitlines()
    for pattern, source in wanted.items():
        for k in (4, 6, 7, 8):
            title = pattern.format(k)
            one_size = "{}" not in pattern  # the HC entry is for 4 routes only
            if title not in lines or (one_size and k != 4) or ("TS" in pattern and k == 4):
                continue
            at = lines.index(title)
            count = int(lines[at + 1])
            routes = [[int(v) - 1 for v in lines[at + 2 + r].split("-")] for r in range(count)]
            yield pytest.param("Mandl", routes, (source, "best passenger"), id=title)


def _john_set():
    text = (TRNDP / "john2016_mandl6_best_passenger_0based.txt").read_text()
    routes = [[int(v) for v in part.split("-")] for part in text.split("*")[:6]]
    yield pytest.param("Mandl", routes, ("John (2016) PhD thesis (Cardiff)", "best passenger"), id="John2016 Mandl6")


def _published_row(instance, n_routes, source, perspective):
    with (TRNDP / "published_results.csv").open() as fh:
        for row in csv.DictReader(fh):
            if (
                row["instance"] == instance
                and row["n_routes"] == str(n_routes)
                and row["perspective"] == perspective
                and row["source"].startswith(source)
                and row["source"][len(source) : len(source) + 1] in ("", " ")
            ):
                return row
    raise LookupError((instance, n_routes, source, perspective))


@pytest.mark.parametrize(("instance", "routes", "key"), [*_mumford_sets(), *_arbex_sets(), *_john_set()])
def test_published_route_set_figures(instance, routes, key):
    inst = load_instance(TRNDP / "mumford_format" / instance)
    row = _published_row(instance, len(routes), *key)
    lo, hi = LIMITS[instance]
    e = evaluate(inst, routes, RouteLimits(len(routes), lo, hi))
    assert e.feasible, e.violations
    assert f"{e.att_min:.2f}" == f"{float(row['ATT_min']):.2f}"
    assert round(e.trt_min) == round(float(row["TRT_min"]))
    for field, value in (("d0_pct", e.d0_pct), ("d1_pct", e.d1_pct), ("d2_pct", e.d2_pct), ("dun_pct", e.dun_pct)):
        assert f"{value:.2f}" == f"{float(row[field]):.2f}", field


def test_published_set_count():
    # 14 Mumford (2013) sets; 12 passenger-best Mandl sets from the Arbex compilation
    assert len([*_mumford_sets()]) == 14
    assert len([*_arbex_sets()]) == 12


@pytest.mark.parametrize(("instance", "bound"), [("Mandl", 10.0058), ("Mumford0", 13.0121), ("Mumford1", 19.2695)])
def test_att_lower_bounds_match_mumford(instance, bound):
    assert round(att_lower_bound(load_instance(TRNDP / "mumford_format" / instance)), 4) == bound
