import pytest
from busops_fixtures import DAY, at

from streams.bus.predictions import (
    PredictParams,
    TravelTimes,
    historical_mean_variance,
    kalman_step,
    learn_segment,
    predict_trip,
    segment_time,
)


def test_transitclock_kalman_hand_example():
    # TheTransitClock's own example: history 380/420/400 s, last vehicle 300 s, error 72.4.
    # mean 400, population variance 266.67, gain (72.4 + 266.67) / (72.4 + 533.33) = 0.55976
    res = kalman_step(300.0, [380.0, 420.0, 400.0], 72.4)
    assert res.gain == pytest.approx(339.0667 / 605.7333, rel=1e-5)
    assert res.prediction_s == pytest.approx(0.44024 * 300 + 0.55976 * 400, abs=0.01)
    assert 355.0 < res.prediction_s < 356.0  # TheTransitClock's self-check: 355 < p < 356
    assert 149.0 < res.filter_error < 150.0  # ... and 149 < error < 150


def test_historical_mean_truncates_like_integer_division():
    assert historical_mean_variance([1.0, 2.0]) == (1.0, 0.5)  # Java long division: 3 / 2 = 1
    with pytest.raises(ValueError):
        historical_mean_variance([])


def test_segment_time_fallbacks():
    tt = TravelTimes()
    p = PredictParams()
    assert segment_time(tt, "B>C", 8, 100.0, 0.0, 50.0, p) == (100.0, 50.0)  # no history: schedule
    tt = TravelTimes(by_segment={"B>C": [380.0, 420.0, 400.0]}, last={"B>C": (990.0, 300.0)})
    t, err = segment_time(tt, "B>C", 8, 100.0, 1000.0, 72.4, PredictParams(method="transitclock"))
    assert t == pytest.approx(355.976, abs=0.01) and 149 < err < 150
    t, _ = segment_time(tt, "B>C", 8, 100.0, 1000.0 + 3600, 72.4, PredictParams(method="transitclock"))
    assert t == pytest.approx(400.0)  # last vehicle too old: historical mean


def test_time_of_day_history():
    tt = TravelTimes()
    p = PredictParams(last_vehicle_max_age_s=0.0)
    learn_segment(tt, "B", "C", 0.0, 200.0, 7, p)
    learn_segment(tt, "B", "C", 0.0, 100.0, 8, p)
    # topis: schedule (90 s) moved towards this hour's history (100 s, n = 1) by n / (n + 3) = 1/4
    assert segment_time(tt, "B>C", 8, 90.0, 10.0, 50.0, p)[0] == 92.5
    # no history at 9: all hours (200, 100 s; n = 2): 90 + 2/5 * (150 - 90)
    assert segment_time(tt, "B>C", 9, 90.0, 10.0, 50.0, p)[0] == pytest.approx(114.0)
    tc = PredictParams(method="transitclock", last_vehicle_max_age_s=0.0)
    assert segment_time(tt, "B>C", 8, 90.0, 10.0, 50.0, tc)[0] == 150.0


def _etas(preds):
    return {p.stop_id: p.predicted_arrival_ts for p in preds}


def test_predict_from_schedule_mid_segment(tiny_feed):
    trip = tiny_feed.trips["E1"]
    day_ts = tiny_feed.service_day_start_ts(DAY)
    # halfway between A (dist 100) and B (dist 600) at 08:01:00: 50 s late against the timetable
    preds = predict_trip(trip, day_ts, "v1", 350.0, 1, True, [], at(8, 1), TravelTimes(), 8, PredictParams())
    etas = _etas(preds)
    assert etas == {"B": at(8, 1, 50), "C": at(8, 3, 30), "D": at(8, 5, 10), "E": at(8, 6, 50)}
    assert all(p.made_at_ts == at(8, 1) and p.trip_id == "E1" for p in preds)


def test_layover_bus_leaves_on_schedule(tiny_feed):
    trip = tiny_feed.trips["E1"]
    day_ts = tiny_feed.service_day_start_ts(DAY)
    preds = predict_trip(trip, day_ts, "v1", 100.0, 0, False, [], at(7, 55), TravelTimes(), 7, PredictParams())
    etas = _etas(preds)
    # already at A: service there starts at the scheduled departure, 08:00
    assert etas["A"] == at(8, 0) and etas["B"] == at(8, 1, 40) and etas["E"] == at(8, 6, 40)


def test_bus_ahead_shortens_dwell(tiny_feed):
    trip = tiny_feed.trips["E1"]
    day_ts = tiny_feed.service_day_start_ts(DAY)
    tt = TravelTimes(dwell_s={"C": 30.0})
    base = _etas(predict_trip(trip, day_ts, "v1", 350.0, 1, True, [], at(8, 1), tt, 8, PredictParams()))
    # the bus ahead reaches C 60 s before us where the timetable says 600 s: dwell x 0.4 (floor)
    leader = {2: [base["C"] - 60.0]}
    near = _etas(predict_trip(trip, day_ts, "v1", 350.0, 1, True, [], at(8, 1), tt, 8, PredictParams(),
                              leader, {2: 600.0}))
    assert near["C"] == base["C"] and near["D"] == base["D"] - 18.0 and near["E"] == base["E"] - 18.0


def test_dwell_already_spent_is_not_predicted_again(tiny_feed):
    trip = tiny_feed.trips["E1"]
    day_ts = tiny_feed.service_day_start_ts(DAY)
    tt = TravelTimes(dwell_s={"B": 20.0})
    # at B (dist 600) since 08:01:40, 10 s ago; of the 100 s to C, 20 s are dwell at B: 10 s of it are left
    etas = _etas(predict_trip(trip, day_ts, "v1", 600.0, 2, True, [], at(8, 1, 50), tt, 8, PredictParams(),
                              arrived_ts=at(8, 1, 40)))
    assert etas["C"] == at(8, 1, 50) + 10 + 80
    # 25 m past B the dwell is over: 80 s of running over 500 m, 5% done
    etas = _etas(predict_trip(trip, day_ts, "v1", 625.0, 2, True, [], at(8, 2, 30), tt, 8, PredictParams()))
    assert etas["C"] == at(8, 2, 30) + 76


def test_boarding_rate_from_taps_sets_the_dwell_change():
    from streams.bus.predictions import dwell_change_s, learn_taps

    tt = TravelTimes()
    p = PredictParams()
    # nine boardings at C in the first 15-min window; a tap at 900 s closes it: 9 / 900 = 0.01 per second
    learn_taps(tt, ["C"] * 9 + ["B"], [100.0 * k for k in range(9)] + [1000.0], p)
    assert tt.boardings_per_s == {"C": 0.01} and tt.tap_counts == {"B": 1}
    # 300 s behind the bus ahead instead of 600: 3 fewer riders, 2.5 s each
    assert dwell_change_s(tt, "C", 300.0, 600.0, p) == pytest.approx(-7.5)
    # headway far below the timetable is floored at 0.4 x: 240 s -> 3.6 riders fewer
    assert dwell_change_s(tt, "C", 10.0, 600.0, p) == pytest.approx(-9.0)
    assert dwell_change_s(tt, "D", 300.0, 600.0, p) == 0.0  # nothing known about D
