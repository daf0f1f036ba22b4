"""Hour-of-day profiles shared by the city's timetables and the simulator (local time)."""

from __future__ import annotations

import numpy as np

#: travel-time multiplier over free flow per local hour (weekday); AM/PM peaks
CONGESTION_BY_HOUR = np.array([
    0.85, 0.80, 0.80, 0.80, 0.85, 0.90, 1.10, 1.50, 1.60, 1.35, 1.20, 1.20,
    1.25, 1.20, 1.20, 1.25, 1.35, 1.55, 1.60, 1.40, 1.20, 1.10, 1.00, 0.95,
])

#: share of a weekday's bus boardings in each local hour (Seoul-like shape: AM/PM peaks, night trough)
_BOARDINGS_WEEKDAY = np.array([
    0.30, 0.10, 0.05, 0.05, 0.20, 1.20, 3.50, 8.50, 9.00, 5.50, 4.50, 4.60,
    4.90, 5.00, 5.00, 5.30, 5.90, 7.50, 8.50, 6.00, 4.30, 4.20, 3.80, 2.20,
])
BOARDING_SHARE_WEEKDAY = _BOARDINGS_WEEKDAY / _BOARDINGS_WEEKDAY.sum()

_BOARDINGS_WEEKEND = np.array([
    0.50, 0.20, 0.10, 0.05, 0.15, 0.80, 1.80, 3.20, 4.50, 5.50, 6.30, 6.80,
    7.00, 7.00, 7.00, 6.90, 6.80, 6.60, 6.20, 5.50, 4.80, 4.20, 3.60, 2.50,
])
BOARDING_SHARE_WEEKEND = _BOARDINGS_WEEKEND / _BOARDINGS_WEEKEND.sum()

#: headway multiplier over the peak headway per local hour; 0 = no regular service
HEADWAY_FACTOR_WEEKDAY = np.array([
    0, 0, 0, 0, 0, 2.0, 1.4, 1.0, 1.0, 1.2, 1.5, 1.5,
    1.5, 1.5, 1.5, 1.5, 1.3, 1.0, 1.0, 1.2, 1.6, 1.6, 2.0, 2.5,
])
HEADWAY_FACTOR_WEEKEND = np.array([
    0, 0, 0, 0, 0, 2.5, 2.0, 1.7, 1.6, 1.5, 1.5, 1.5,
    1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.6, 1.8, 2.0, 2.5, 3.0,
])

#: cars per hour past a camera relative to its daily peak hour
CAR_VOLUME_BY_HOUR = np.array([
    0.20, 0.12, 0.08, 0.07, 0.10, 0.25, 0.55, 0.90, 1.00, 0.85, 0.75, 0.75,
    0.78, 0.78, 0.78, 0.80, 0.85, 0.95, 1.00, 0.85, 0.65, 0.55, 0.45, 0.32,
])


def congestion_factor(hour: int, weekend: bool) -> float:
    """Travel-time multiplier for a local hour; weekends have half the peak excess."""
    c = float(CONGESTION_BY_HOUR[hour % 24])
    return 1.0 + 0.5 * (c - 1.0) if weekend and c > 1.0 else c
