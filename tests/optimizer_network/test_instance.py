"""Instance loaders: both formats, and a clear error for each malformed input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.instance import InstanceError, check_limits, load_instance, make_instance

TRNDP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "trndp"
needs_data = pytest.mark.skipif(not TRNDP.is_dir(), reason=f"reference data not found at {TRNDP}")

TIMES = """0 3 Inf
3 0 4

Inf 4 0
"""
DEMAND = """0 10 5
10 0 2
5 2 0
"""


def _write(tmp_path, times=TIMES, demand=DEMAND, coords=None):
    (tmp_path / "TinyTravelTimes.txt").write_text(times)
    (tmp_path / "TinyDemand.txt").write_text(demand)
    if coords is not None:
        (tmp_path / "TinyCoords.txt").write_text(coords)
    return tmp_path / "Tiny"


def test_mumford_format(tmp_path):
    inst = load_instance(_write(tmp_path, coords="3\n0 0\n1 0\n2 1\n"))
    assert inst.n == 3 and inst.name == "Tiny"
    assert inst.travel_time_min[0, 2] == np.inf and inst.travel_time_min[1, 2] == 4
    assert inst.demand[0, 1] == 10
    assert inst.coords[2].tolist() == [2, 1]
    assert inst.neighbours(1).tolist() == [0, 2]


def test_csv_edge_lists_one_direction_is_two_way(tmp_path):
    (tmp_path / "t_links.txt").write_text("from,to,travel_time\n1,2,3\n2,3,4\n3,2,4\n")
    (tmp_path / "t_demand.txt").write_text("from,to,demand\n1,2,10\n2,1,10\n")
    (tmp_path / "t_nodes.txt").write_text("id,lat,lon,terminal\n1,50,4,1\n2,50.1,4.1,0\n3,50.2,4.2,1\n")
    inst = load_instance(tmp_path / "t")
    assert inst.travel_time_min[1, 0] == 3 and inst.demand[1, 0] == 10
    assert inst.coords[0].tolist() == [4, 50]  # (lon, lat)


@pytest.mark.parametrize(
    ("times", "demand", "message"),
    [
        ("0 3\n3 0 1\n", DEMAND, "not square"),
        ("0 3 1\n2 0 4\n1 4 0\n", DEMAND, "asymmetric"),
        ("0 -3 1\n-3 0 4\n1 4 0\n", DEMAND, "negative travel times"),
        (TIMES, "0 1\n1 0\n", "size mismatch"),
        (TIMES, "0 -1 0\n-1 0 0\n0 0 0\n", "negative demand"),
        ("0 3 Inf\n3 0 Inf\nInf Inf 0\n", DEMAND, "disconnected; nodes not reachable from node 1: 3"),
        ("0 x 1\n3 0 4\n1 4 0\n", DEMAND, "not a number"),
        ("1 3 1\n3 0 4\n1 4 0\n", DEMAND, "0 on the diagonal"),
        ("0 3 nan\n3 0 4\nnan 4 0\n", DEMAND, "NaN"),
    ],
)
def test_malformed_instances_raise_clear_errors(tmp_path, times, demand, message):
    with pytest.raises(InstanceError, match=message):
        load_instance(_write(tmp_path, times, demand))


def test_missing_files(tmp_path):
    with pytest.raises(InstanceError, match="no instance at"):
        load_instance(tmp_path / "Nothing")
    (tmp_path / "OnlyTravelTimes.txt").write_text(TIMES)
    with pytest.raises(InstanceError, match="missing file: .*OnlyDemand.txt"):
        load_instance(tmp_path / "Only")


def test_csv_conflicting_directions(tmp_path):
    (tmp_path / "t_links.txt").write_text("from,to,travel_time\n1,2,3\n2,1,5\n")
    (tmp_path / "t_demand.txt").write_text("from,to,demand\n")
    with pytest.raises(InstanceError, match="link 2->1 takes 5.0 min but 1->2 takes 3.0"):
        load_instance(tmp_path / "t")


def test_limits_that_cannot_be_met(tmp_path):
    inst = load_instance(_write(tmp_path))
    check_limits(inst, 1, 2, 3)
    with pytest.raises(InstanceError, match="limits cannot be met"):
        check_limits(inst, 1, 2, 2)  # one 2-stop route cannot cover 3 nodes
    check_limits(inst, 2, 2, 2)  # two 2-stop routes sharing a node can
    with pytest.raises(InstanceError, match="below --min-nodes"):
        check_limits(inst, 1, 3, 2)
    with pytest.raises(InstanceError, match="at least 2"):
        check_limits(inst, 1, 1, 3)
    with pytest.raises(InstanceError, match="exceeds the 3 nodes"):
        check_limits(inst, 1, 4, 5)


def test_make_instance_zeroes_demand_diagonal():
    inst = make_instance("x", [[0, 1], [1, 0]], [[7, 1], [1, 7]])
    assert inst.demand.trace() == 0


@needs_data
@pytest.mark.parametrize(("mumford", "csv_name"), [("Mandl", "mandl1"), ("Mumford0", "mumford0"), ("Mumford1", "mumford1")])
def test_both_copies_of_the_benchmarks_agree(mumford, csv_name):
    a = load_instance(TRNDP / "mumford_format" / mumford)
    b = load_instance(TRNDP / "csv" / csv_name)
    np.testing.assert_array_equal(a.travel_time_min, b.travel_time_min)
    np.testing.assert_array_equal(a.demand, b.demand)


def test_csv_size_mismatch_between_files(tmp_path):
    (tmp_path / "t_links.txt").write_text("from,to,travel_time\n1,2,3\n2,3,4\n")
    (tmp_path / "t_demand.txt").write_text("from,to,demand\n1,4,10\n")
    (tmp_path / "t_nodes.txt").write_text("id,lat,lon,terminal\n1,0,0,1\n2,0,1,0\n3,0,2,1\n")
    with pytest.raises(InstanceError, match=r"size mismatch: links/demand mention node\(s\) \[4\]"):
        load_instance(tmp_path / "t")
