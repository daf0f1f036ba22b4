"""The open feed over HTTP: a Flask blueprint on the dashboard's server.

``/api/gtfs-rt/vehicle-positions.pb`` and ``/api/gtfs-rt/trip-updates.pb``
(``?format=json`` for a readable debug view) and ``/api/stops/<stop_id>/arrivals``,
built by the pure builders of :mod:`streams.bus.gtfs_rt` from the live state
that a callable of the host application returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from streams.bus.gtfs_rt import (
    KST,
    OpenFeedState,
    arrival_rows,
    build_vehicle_positions,
    current_predictions,
    feed_to_json,
    predictions_by_stop,
    trip_updates_message,
)
from topis.schemas.bus import Prediction


class ServedFeed:
    """The open feed of one state, each output built on first use and then reused.

    At Seoul's scale (7,400 buses, ~150,000 stop predictions) a TripUpdates
    feed takes about a second to build; the blueprint serves one ServedFeed
    to every request within ``cache_s``.
    """

    def __init__(self, state: OpenFeedState, taken_at: float):
        self.state = state
        self.taken_at = taken_at  #: time.monotonic() when the state was taken
        self.now_ts = state.now_ts if state.now_ts is not None else time.time()
        self._current: dict[str, list[Prediction]] | None = None
        self._by_stop: dict[str, list[Prediction]] | None = None
        self._vehicle_positions: bytes | None = None
        self._trip_updates: bytes | None = None

    def vehicle_positions(self) -> bytes:
        if self._vehicle_positions is None:
            self._vehicle_positions = build_vehicle_positions(self.state.positions, self.now_ts)
        return self._vehicle_positions

    def current(self) -> dict[str, list[Prediction]]:
        if self._current is None:
            self._current = current_predictions(self.state.predictions, self.now_ts)
        return self._current

    def trip_updates(self) -> bytes:
        if self._trip_updates is None:
            self._trip_updates = trip_updates_message(self.current(), self.now_ts)
        return self._trip_updates

    def arrivals(self, stop_id: str, limit: int | None) -> list[dict]:
        if self._by_stop is None:
            self._by_stop = predictions_by_stop(self.current())
        return arrival_rows(self._by_stop.get(stop_id, []), self.now_ts, limit)


def openfeed_blueprint(get_state: Callable[[], OpenFeedState], name: str = "openfeed", cache_s: float = 1.0):
    """A Flask Blueprint serving the open feed; mount it on the Dash server.

    Example::

        app.server.register_blueprint(openfeed_blueprint(read_model.open_feed_state))

    ``get_state()`` must be non-blocking (a snapshot of the read model); it is
    called at most once per ``cache_s`` seconds (0: on every request), and the
    feeds built from one state are shared by the requests in that time (see
    :class:`ServedFeed`).
    """
    from flask import Blueprint, Response, abort, jsonify, request

    bp = Blueprint(name, __name__)
    lock = threading.Lock()
    held: list[ServedFeed] = []

    def served() -> ServedFeed:
        with lock:  # one request rebuilds, the others wait for it rather than all building at once
            now = time.monotonic()
            if not held or now - held[0].taken_at >= cache_s:
                held[:] = [ServedFeed(get_state(), now)]
            return held[0]

    def _pb(build: Callable[[ServedFeed], bytes]) -> Response:
        fmt = request.args.get("format")
        if fmt not in (None, "pb", "json"):
            abort(400, description="format must be 'pb' or 'json'")
        feed = served()
        with lock:
            data = build(feed)
        if fmt == "json":
            return jsonify(feed_to_json(data))
        return Response(data, mimetype="application/x-protobuf", headers={"Cache-Control": "no-cache"})

    @bp.get("/api/gtfs-rt/vehicle-positions.pb")
    def vehicle_positions():
        return _pb(ServedFeed.vehicle_positions)

    @bp.get("/api/gtfs-rt/trip-updates.pb")
    def trip_updates():
        return _pb(ServedFeed.trip_updates)

    @bp.get("/api/stops/<stop_id>/arrivals")
    def stop_arrivals(stop_id: str):
        limit = request.args.get("limit", type=int)
        if limit is not None and limit < 1:
            abort(400, description="limit must be a positive integer")
        feed = served()
        with lock:
            rows = feed.arrivals(stop_id, limit)
        return jsonify({
            "stop_id": stop_id,
            "generated_at": datetime.fromtimestamp(round(feed.now_ts), KST).isoformat(),
            "arrivals": rows,
        })

    return bp
