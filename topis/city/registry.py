"""Vehicle registry of the demo city: Korean plates, classes, emission grades, permits, watch list."""

from __future__ import annotations

import math

import numpy as np

from topis.city.model import Vehicle

#: Hangul syllables used on private (non-commercial) plates
PRIVATE_SYLLABLES = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주"
#: syllables of commercial passenger vehicles (taxis, buses)
COMMERCIAL_SYLLABLES = "바사아자"
DELIVERY_SYLLABLE = "배"
HANGUL_SYLLABLES = PRIVATE_SYLLABLES + COMMERCIAL_SYLLABLES + DELIVERY_SYLLABLE + "하허호"

#: share of each class among registered non-bus vehicles
CLASS_SHARE = {"car": 0.78, "taxi": 0.07, "truck": 0.08, "van": 0.06, "emergency": 0.01}
#: emission grade 1..5 distribution per class (diesel trucks and vans carry most grade 5)
GRADE_SHARE = {
    "car": (0.20, 0.45, 0.30, 0.03, 0.02),
    "taxi": (0.30, 0.50, 0.20, 0.0, 0.0),
    "truck": (0.05, 0.25, 0.45, 0.10, 0.15),
    "van": (0.10, 0.30, 0.45, 0.08, 0.07),
    "emergency": (0.30, 0.40, 0.30, 0.0, 0.0),
    "bus": (0.80, 0.20, 0.0, 0.0, 0.0),
}
EXEMPT_SHARE = 0.015
VEHICLES_PER_SCALE = 10_000


def _plate(rng: np.random.Generator, syllables: str, first: tuple[int, int]) -> str:
    return f"{rng.integers(*first)}{syllables[rng.integers(len(syllables))]}{rng.integers(0, 10000):04d}"


def plate_for(rng: np.random.Generator, vehicle_class: str) -> str:
    """A random plate in Korean format for a class ("12가3456"; newer cars "123가4567")."""
    if vehicle_class in ("bus", "taxi"):
        return _plate(rng, COMMERCIAL_SYLLABLES, (70, 80) if vehicle_class == "bus" else (30, 40))
    if vehicle_class == "truck" and rng.random() < 0.3:
        return _plate(rng, DELIVERY_SYLLABLE, (80, 100))
    first = (100, 700) if rng.random() < 0.3 else (10, 70)
    return _plate(rng, PRIVATE_SYLLABLES, first)


def _plates(rng: np.random.Generator, vehicle_class: str, n: int) -> list[str]:
    """``n`` random plates of one class, vectorised (may repeat; the caller dedupes)."""
    digits = rng.integers(0, 10000, size=n)
    if vehicle_class in ("bus", "taxi"):
        lo = 70 if vehicle_class == "bus" else 30
        first, syl = rng.integers(lo, lo + 10, size=n), np.array(list(COMMERCIAL_SYLLABLES))[rng.integers(0, 4, size=n)]
    else:
        new_style = rng.random(n) < 0.3
        first = np.where(new_style, rng.integers(100, 700, size=n), rng.integers(10, 70, size=n))
        syl = np.array(list(PRIVATE_SYLLABLES))[rng.integers(0, len(PRIVATE_SYLLABLES), size=n)]
        if vehicle_class == "truck":
            delivery = rng.random(n) < 0.3
            first = np.where(delivery, rng.integers(80, 100, size=n), first)
            syl = np.where(delivery, DELIVERY_SYLLABLE, syl)
    return [f"{a}{b}{c:04d}" for a, b, c in zip(first.tolist(), syl.tolist(), digits.tolist())]


def build_registry(rng: np.random.Generator, scale: float, n_buses: int) -> tuple[tuple[Vehicle, ...], list[str]]:
    """Registered vehicles (sorted by plate) and the plates given to the buses, in fleet order.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    scale : float
        City scale; ``VEHICLES_PER_SCALE * scale`` non-bus vehicles are made.
    n_buses : int
        Number of buses to give plates.
    """
    n_other = int(round(VEHICLES_PER_SCALE * scale))
    classes = ["bus"] + list(CLASS_SHARE)
    drawn = np.concatenate([np.zeros(n_buses, dtype=int),
                            1 + rng.choice(len(CLASS_SHARE), size=n_other, p=list(CLASS_SHARE.values()))])
    grades = np.zeros(len(drawn), dtype=int)
    plates = np.empty(len(drawn), dtype=object)
    seen: set[str] = set()
    for c, cls in enumerate(classes):
        idx = np.flatnonzero(drawn == c)
        grades[idx] = 1 + rng.choice(5, size=len(idx), p=GRADE_SHARE[cls])
        pool = []
        while len(pool) < len(idx):
            for plate in _plates(rng, cls, len(idx) - len(pool) + 16):
                if plate not in seen and len(pool) < len(idx):
                    seen.add(plate)
                    pool.append(plate)
        plates[idx] = pool
    exempt = np.isin(drawn, [classes.index(c) for c in ("car", "van", "truck")]) & (rng.random(len(drawn)) < EXEMPT_SHARE)
    n_watch = max(5, int(round(5 * math.sqrt(scale))))
    watch = np.zeros(len(drawn), dtype=bool)
    cars = np.flatnonzero((drawn == classes.index("car")) & ~exempt)
    watch[rng.choice(cars, size=min(n_watch, len(cars)), replace=False)] = True
    vehicles = [Vehicle(str(p), classes[c], int(g), bool(e), bool(w))
                for p, c, g, e, w in zip(plates.tolist(), drawn.tolist(), grades.tolist(), exempt.tolist(), watch.tolist())]
    vehicles.sort(key=lambda v: v.plate)
    return tuple(vehicles), [str(p) for p in plates[:n_buses]]
