"""Link speeds from probes: ``traffic.link_speeds`` carries a JSON list of :class:`LinkSpeed` per message.

Two kinds of probe publish on it, told apart by ``source``: buses (space-mean speed of
fix pairs, :mod:`streams.traffic.linkspeeds`) and taxis (harmonic mean of map-matched
link traversals, :mod:`streams.traffic.traversal_speeds`). Messages written before
``source`` existed decode as ``"bus"``.
"""

from __future__ import annotations

import msgspec

#: values of :attr:`LinkSpeed.source`
SOURCES = ("bus", "taxi")


class LinkSpeed(msgspec.Struct, frozen=True):
    """Speed of one link in one time bin (partial per partition: sum with ``dist_m``/``time_s``)."""

    link_id: str
    bin_start_ts: float  #: epoch seconds UTC, multiple of the bin size
    speed_kph: float  #: total distance / total time of the probes, km/h
    n_probes: int  #: bus: distinct vehicles that contributed; taxi: complete traversals of the link
    dist_m: float = 0.0  #: distance travelled on the link in the bin by all probes
    time_s: float = 0.0  #: time spent on it
    source: str = "bus"  #: "bus" or "taxi" (see :data:`SOURCES`)
    #: taxi: approximate probability that ``speed_kph`` is within 10 % of the mean speed of the
    #: bin's traversals (normal approximation from the count and spread); None for bus bins
    confidence: float | None = None
    time_sq_s2: float = 0.0  #: taxi: sum of squared traversal times, s², so summed partials keep the spread
