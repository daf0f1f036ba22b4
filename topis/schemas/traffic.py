"""Link speeds from bus probes: ``traffic.link_speeds`` carries a JSON list of :class:`LinkSpeed` per message."""

from __future__ import annotations

import msgspec


class LinkSpeed(msgspec.Struct, frozen=True):
    """Space-mean speed of one link in one time bin (partial per partition: sum with ``dist_m``/``time_s``)."""

    link_id: str
    bin_start_ts: float  #: epoch seconds UTC, multiple of the bin size
    speed_kph: float  #: total distance / total time of the probes, km/h
    n_probes: int  #: distinct vehicles that contributed
    dist_m: float = 0.0  #: distance travelled on the link in the bin by all probes
    time_s: float = 0.0  #: time spent on it
