"""Taxi probes → road link speeds, per probe cell: the pure step the taxi agent calls per batch.

A :class:`CellState` holds one probe cell's map-matching state
(:mod:`streams.traffic.mapmatch`) and its open 5-minute bins
(:mod:`streams.traffic.traversal_speeds`). :func:`advance` matches a batch of
the cell's fixes (columns, :class:`topis.schemas.probes.TaxiFixes`), bins the
link traversals they complete and returns the bins the watermark closed, as
``traffic.link_speeds`` records (``source="taxi"``).

The watermark is the newest fix in the cell less ``lateness_s``: the matcher
decides a fix ``lag_fixes`` fixes behind its taxi's newest (~50 s at a fix per
10 s), so traversals come out that late; a later one for a closed bin is
dropped. A taxi crossing into another cell continues in that cell's state
(another partition): its chain breaks at the cell edge, so links across an
edge get traversals from both cells, as partial bins that
:func:`streams.traffic.linkspeeds.merge` adds up downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streams.traffic import mapmatch, traversal_speeds
from topis.schemas.probes import TaxiFixes
from topis.schemas.traffic import LinkSpeed

#: bins close this long behind the newest fix of the cell, seconds (matcher lag + lateness)
LATENESS_S = 120.0


@dataclass
class CellState:
    """One probe cell's matcher state and open bins."""

    match: mapmatch.MatchState = field(default_factory=mapmatch.new_state)
    bins: traversal_speeds.TraversalBins = field(default_factory=traversal_speeds.empty_bins)
    newest_ts: float = float("-inf")  #: newest fix seen in the cell, epoch seconds
    fixes: int = 0  #: fixes folded
    matched: int = 0  #: fixes the matcher placed on a link


def advance(state: CellState, fixes: TaxiFixes, net: mapmatch.MatchNetwork,
            rules: mapmatch.MatchRules = mapmatch.MatchRules(), lateness_s: float = LATENESS_S,
            bin_s: float = 300.0) -> list[LinkSpeed]:
    """Fold a batch of a cell's taxi fixes into ``state``; return the link-speed bins that closed."""
    keep = np.isfinite(fixes.ts) & np.isfinite(fixes.lat) & np.isfinite(fixes.lon)
    if not keep.all():
        fixes = fixes.take(keep)
    if len(fixes.ts) == 0:
        return []
    x, y = net.proj.to_xy(fixes.lat, fixes.lon)
    decided, traversals = mapmatch.advance(state.match, net, fixes.taxi_id, fixes.ts, x, y,
                                           fixes.heading_deg.astype(float), rules)
    state.fixes += len(fixes.ts)
    state.matched += int((decided.link >= 0).sum())
    state.newest_ts = max(state.newest_ts, float(fixes.ts.max()))
    state.bins, closed = traversal_speeds.fold(state.bins, traversals.link, traversals.entry_ts_s,
                                               traversals.exit_ts_s, net.length_m,
                                               state.newest_ts - lateness_s, bin_s)
    return traversal_speeds.to_link_speeds(closed, net.link_ids) if len(closed) else []
