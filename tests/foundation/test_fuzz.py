"""The fuzzer's own promise, checked against the edge: each fault it makes is rejected with the reason it names."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from topis import fuzz, topics
from topis.schemas import validation as v

NOW = 1_790_000_000.0
LIMITS = v.Limits(area=v.area_around([37.45, 37.65], [126.85, 127.15], 50_000.0))
INPUTS = (topics.BUS_POSITIONS, topics.CARD_TAPS, topics.PLATE_READS)


def valid(rng, spec):
    if spec is topics.BUS_POSITIONS:
        return fuzz.positions(rng, "R1", [f"v{i}" for i in range(rng.randint(1, 6))], NOW)
    if spec is topics.CARD_TAPS:
        return fuzz.taps(rng, "R1", rng.randint(1, 6), NOW)
    return fuzz.reads(rng, "cam1", rng.randint(1, 6), NOW)


@pytest.mark.parametrize("spec", INPUTS, ids=lambda s: s.name)
@pytest.mark.parametrize("case", list(fuzz.WHOLE))
def test_each_whole_fault_is_rejected_with_its_reason(spec, case):
    rng = random.Random(case)
    made = fuzz.Fuzzer(rng, NOW).whole(spec, "R1", valid(rng, spec), case)
    assert made.expected(LIMITS, NOW).reason == made.reason == fuzz.WHOLE[case]


def test_drawn_messages_are_what_they_say():
    rng = random.Random(3)
    fuzzer = fuzz.Fuzzer(rng, NOW)
    cases = Counter()
    for _ in range(2000):
        spec = rng.choice(INPUTS)
        made = fuzzer.draw(spec, "R1", valid(rng, spec))
        got = made.expected(LIMITS, NOW)
        cases[made.case] += 1
        if not made.known:
            continue
        assert (got.reason or (got.rows[0].reason if got.rows else None)) == made.reason, made.case
        assert tuple(r.index for r in got.rows) == made.bad_rows
        if made.case == "rows":
            assert {r.reason for r in got.rows} <= set(fuzz.ROWS[spec.name])
    assert cases["valid"] > 600 and cases["rows"] > 400 and cases["mutation"] > 80
    assert {c for c in cases if c in fuzz.WHOLE} >= set(fuzz.WHOLE) - {"five_mb", "oversize"}


@pytest.mark.parametrize("spec", INPUTS, ids=lambda s: s.name)
def test_a_big_valid_batch_is_just_under_the_limit_and_valid(spec):
    rng = random.Random(4)
    made = fuzz.Fuzzer(rng, NOW).big(spec, "R1", valid(rng, spec))
    assert 0.8 * v.Limits().max_value_bytes < len(made.value) <= v.Limits().max_value_bytes
    assert not made.expected(LIMITS, NOW).rejected and made.rows > 1000
