"""Watch-list hits on ``enforcement.alerts`` (key = camera_id): the plate masked, the rest as read."""

from __future__ import annotations

import msgspec


class WatchAlert(msgspec.Struct, frozen=True):
    """A watch-listed plate seen by a camera; the full plate stays in the case store."""

    alert_id: str  #: stable id of the hit
    reason: str  #: "watch"
    plate_masked: str  #: the plate with all but a few characters masked
    read_id: str  #: the read that hit
    camera_id: str  #: camera that read it
    lat: float  #: camera position, WGS84 degrees
    lon: float  #: camera position, WGS84 degrees
    ts: float  #: time of the read, epoch seconds UTC
    confidence: float  #: reader's confidence in the plate text, 0..1
