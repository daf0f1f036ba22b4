import math

import pytest

from streams.bus.accuracy import (
    bucket_of,
    is_accurate,
    read_predictions_csv,
    read_transitclock_predictions,
    score,
    write_predictions_csv,
)
from topis.schemas.bus import Prediction


def pred(made, predicted, seq=1, trip="T"):
    return Prediction("v", "R", trip, f"s{seq}", seq, made, predicted)


def test_bucket_boundaries_by_time_to_actual():
    assert bucket_of(0.0) == 0 and bucket_of(179.9) == 0 and bucket_of(180.0) == 1
    assert bucket_of(360.0) == 2 and bucket_of(600.0) == 3 and bucket_of(899.0) == 3
    assert bucket_of(900.0) is None and bucket_of(-1.0) is None


def test_band_is_actual_minus_predicted_inclusive():
    # 0-3 min: the bus may come 30 s earlier or 90 s later than predicted
    assert is_accurate(0, actual_ts=1090.0, predicted_ts=1000.0)
    assert not is_accurate(0, actual_ts=1091.0, predicted_ts=1000.0)
    assert is_accurate(0, actual_ts=970.0, predicted_ts=1000.0)
    assert not is_accurate(0, actual_ts=969.0, predicted_ts=1000.0)
    assert is_accurate(3, actual_ts=1270.0, predicted_ts=1000.0) and not is_accurate(3, 909.0, 1000.0)


def test_score_is_mean_of_bucket_shares():
    truth = {("T", 1): 1000.0, ("T", 2): 1500.0}
    preds = [
        pred(900.0, 1000.0, 1),  # 100 s ahead, exact: bucket 0 accurate
        pred(950.0, 1100.0, 1),  # bucket 0, bus 100 s early: inaccurate
        pred(1100.0, 1450.0, 2),  # 400 s ahead (6-10), 50 s late: accurate
        pred(0.0, 1000.0, 2),  # 1500 s ahead: out of range
        pred(900.0, 1000.0, 3),  # no ground truth
    ]
    rep = score(preds, truth)
    assert [b.n for b in rep.buckets] == [2, 0, 1, 0]
    assert rep.buckets[0].share == 0.5 and rep.buckets[2].share == 1.0
    assert rep.score == pytest.approx(0.75)  # mean over the buckets that hold predictions
    assert rep.buckets[0].mae_s == 50.0 and rep.buckets[0].mean_error_s == -50.0
    assert rep.unmatched == 1 and rep.out_of_range == 1
    assert math.isnan(score([], truth).score)
    assert "75.0%" in rep.table()


def test_csv_round_trip_with_offsets(tmp_path):
    preds = [pred(1_700_000_000.0, 1_700_000_123.0, 4)]
    path = tmp_path / "p.csv"
    assert write_predictions_csv(path, preds, "Asia/Seoul") == 1
    text = path.read_text()
    assert text.splitlines()[0] == "vehicle_id,trip_id,stop_id,stop_sequence,made_at,predicted_arrival"
    assert "2023-11-15T07:13:20+09:00" in text
    back = read_predictions_csv(path)
    assert back[0].made_at_ts == preds[0].made_at_ts and back[0].predicted_arrival_ts == 1_700_000_123.0


def test_transitclock_predictions_file(wmata):
    preds = read_transitclock_predictions(wmata / "transitclock_predictions" / "S2_2113.csv")
    assert len(preds) == 675
    first = preds[0]
    # avlTime "2016-04-29 08:19:58" New York (EDT, UTC-4) = 12:19:58 UTC
    assert first.made_at_ts == 1461932398.0 and first.stop_sequence == 16 and first.trip_id == "877611130"
