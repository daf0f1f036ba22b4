"""Load profiles on hand-made routes."""

import numpy as np
import pytest

from optimizer import loads


def test_path_loads_hand_computed():
    # 4 stops: 10 board at A, 4 at B; 3 alight at B, 11 at D
    board = [10, 4, 0, 0]
    alight = [0, 3, 0, 11]
    assert loads.path_link_loads(board, alight).tolist() == [10, 11, 11, 0]


def test_alightings_scaled_to_boardings():
    # only half the alightings were tapped: scaled x2
    board = [10, 0, 0]
    alight = [0, 2, 3]
    assert loads.path_link_loads(board, alight).tolist() == pytest.approx([10, 6, 0])


def test_cyclic_loads_start_at_the_empty_point():
    # out-and-back: A B C | C' B' A' ; riders A->C (6), B->C (2), C'->A' (5)
    board = [6, 2, 0, 5, 0, 0]
    alight = [0, 0, 8, 0, 0, 5]
    assert loads.cyclic_link_loads(board, alight).tolist() == [6, 8, 0, 5, 5, 0]
    # the same cycle listed from the middle: min-shift still finds the empty links
    rot = np.roll(np.arange(6), -2)
    assert loads.cyclic_link_loads(np.array(board)[rot], np.array(alight)[rot]).tolist() == [0, 5, 5, 0, 6, 8]
    assert loads.start_index(np.array(board)[rot], np.array(alight)[rot]) in (1, 4)


def test_loop_route_keeps_riders_carried_through_the_start():
    # loop A B C, riders C->B (4) ride through A
    board = [0, 0, 4]
    alight = [0, 4, 0]
    assert loads.cyclic_link_loads(board, alight).tolist() == [4, 0, 4]


def test_per_hour_columns_independent():
    board = np.array([[5, 1], [0, 0], [0, 1]])
    alight = np.array([[0, 0], [5, 2], [0, 0]])
    out = loads.cyclic_link_loads(board, alight)
    assert out[:, 0].tolist() == [5, 0, 0]
    assert out[:, 1].tolist() == [2, 0, 1]  # the rider boarding at C rides through A to B


def test_pax_km_over_capacity():
    assert loads.pax_km_over_capacity([100, 50, 130], 80, [500, 1000, 2000]) == pytest.approx((20 * 0.5 + 50 * 2.0))



def test_reversed_cycle_profile_is_peak_minus_load():
    # why loads cannot orient a flat route: reversed, the profile is max(load) - load
    board, alight = np.array([6, 2, 0, 5, 0, 0]), np.array([0, 0, 8, 0, 0, 5])
    fwd = loads.cyclic_link_loads(board, alight)
    rev = loads.cyclic_link_loads(board[::-1], alight[::-1])
    # reversed link k runs between reversed stops k and k+1 = forward link 4 - k (cyclically)
    assert rev.tolist() == [fwd.max() - fwd[(4 - k) % 6] for k in range(6)]
