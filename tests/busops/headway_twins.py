"""The timetable index as it was before it was made faster: the slow, obviously-correct twin.

A verbatim copy of ``streams.bus.headways.ScheduleIndex.pattern`` at commit abdc493, used only by
``test_bus_headways.py``: the fast build must give the same arrival order at every stop.
"""

from __future__ import annotations

import numpy as np

from streams.bus.headways import SchedulePattern, stop_key


def pattern(trips) -> SchedulePattern:
    """The arrivals of ``trips`` in order at each stop, in seconds of the service day."""
    rows: dict[str, list[tuple[float, str]]] = {}
    for trip in trips:
        for sid, arr in zip(trip.stop_ids, trip.arrival_s):
            rows.setdefault(stop_key(trip.direction_id, sid), []).append((float(arr), trip.trip_id))
    offsets_s, position = {}, {}
    for key, r in rows.items():
        r.sort()
        offsets_s[key] = np.array([t for t, _ in r])
        position[key] = {tid: i for i, (_, tid) in enumerate(r)}
    return SchedulePattern(offsets_s, position)
