"""The lookup keys of a stop pattern, made once per pattern for the predictions' per-fix lookups.

A :class:`StopPattern` holds, for one direction's stop list, the segment keys of
the travel-time store (:func:`segment_key`), the per-hour segment keys, and the
stop keys of the route's headway and predicted-arrival tables
(:func:`streams.bus.headways.stop_key`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streams.bus.headways import stop_key

if TYPE_CHECKING:
    from streams.bus.predictions import TravelTimes


def segment_key(from_stop: str, to_stop: str) -> str:
    return f"{from_stop}>{to_stop}"


class StopPattern:
    """The lookup keys of one stop pattern (a direction's stop list), built once and shared by its trips.

    Prediction looks up every segment ahead of a bus in the travel-time store and
    every stop in the route's tables at every fix; the keys are made here once
    rather than formatted again per call. Get one with :func:`stop_pattern` or a
    route model's cache.
    """

    def __init__(self, direction_id: int | None, stop_ids: tuple[str, ...]):
        self.stop_ids = stop_ids
        #: "FROM>TO" per segment (:func:`segment_key`)
        self.segment_keys = tuple(segment_key(a, b) for a, b in zip(stop_ids, stop_ids[1:]))
        #: "DIR|STOP" per stop: keys of the route's headway and predicted-arrival tables
        self.stop_keys = tuple(stop_key(direction_id, s) for s in stop_ids)
        self._segment_at = _indices(self.segment_keys)
        self._hour = -1
        self._hour_keys: tuple[str, ...] = ()
        self._hour_at: dict[str, list[int]] = {}

    def hour_keys(self, hour: int) -> tuple[str, ...]:
        """ "FROM>TO@H" per segment; the latest hour's are kept (all buses are predicted at about one time)."""
        if hour != self._hour:
            self._hour_keys = tuple(f"{key}@{hour}" for key in self.segment_keys)
            self._hour_at = _indices(self._hour_keys)
            self._hour = hour
        return self._hour_keys

    def with_history(self, tt: TravelTimes, hour: int) -> set[int]:
        """Indices of the segments that have traversals in ``tt``, at ``hour`` or at any hour.

        Set intersections run over the smaller side in C: a route that has learned little
        costs little, and no segment is looked up one by one to find it has no history.
        """
        self.hour_keys(hour)
        found = {k for key in tt.by_segment.keys() & self._segment_at.keys() for k in self._segment_at[key]}
        found.update(k for key in tt.by_hour.keys() & self._hour_at.keys() for k in self._hour_at[key])
        return found


def _indices(keys: tuple[str, ...]) -> dict[str, list[int]]:
    """Key → its positions (a loop route can pass the same segment twice)."""
    at: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        at.setdefault(key, []).append(i)
    return at


def stop_pattern(trip) -> StopPattern:
    """A fresh :class:`StopPattern` of a trip's stops (callers that predict often keep one per pattern)."""
    return StopPattern(trip.direction_id, trip.stop_ids)
