"""Link speeds from map-matched probe traversals (taxis): harmonic mean per link per time bin.

:func:`streams.traffic.mapmatch.advance` gives complete link traversals (entry and exit
time). A traversal belongs to the bin of its midpoint time. Per link and bin:

* ``speed_kph`` the harmonic mean of the traversal speeds, which for traversals of one
  link is ``n · length / Σ time`` = total distance / total time (the space-mean speed);
* ``n`` the traversals, ``time_sq_s2`` the sum of squared traversal times, so partial
  bins from several partitions add up exactly (:func:`accumulate`) and keep their spread;
* ``confidence``: the approximate probability that the bin's speed is within
  ``tolerance`` (10 %) of the mean speed of its traversals' population — a normal
  approximation with relative standard error ``cv / sqrt(n)`` of the mean traversal
  time, ``cv`` the bins' coefficient of variation of traversal time (``prior_cv`` while
  there is a single traversal). One traversal gives ~0.26, five with a 10 % spread ~0.97.
  It covers the spread between traversals only, not the bias of interpolating entry and
  exit times between sparse fixes (``benchmarks/mapmatch.py``: with a fix per 10 s, 98 %
  of bins with >= 5 traversals are within 10 % of the truth; per 30 s, 64 %, at a mean
  confidence of 0.98).

Traversals of zero or negative time, or faster than ``max_speed_kph``, are dropped.
Everything works on columns (numpy group-by); :func:`to_link_speeds` makes the
``traffic.link_speeds`` records (``source="taxi"``) at the edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from topis.schemas.traffic import LinkSpeed


@dataclass(frozen=True)
class TraversalBins:
    """Per (link, bin) sums of traversals, sorted by (link, bin start)."""

    link: np.ndarray  #: int64 link index
    bin_start_ts: np.ndarray  #: epoch seconds, multiple of the bin size
    n: np.ndarray  #: int64 traversals
    dist_m: np.ndarray  #: Σ link length over the traversals
    time_s: np.ndarray  #: Σ traversal time
    time_sq_s2: np.ndarray  #: Σ traversal time²

    @property
    def speed_kph(self) -> np.ndarray:
        """Harmonic mean speed of the traversals."""
        return self.dist_m / self.time_s * 3.6

    def confidence(self, tolerance: float = 0.10, prior_cv: float = 0.3) -> np.ndarray:
        """See the module docstring."""
        return confidence(self.n, self.time_s, self.time_sq_s2, tolerance, prior_cv)

    def __len__(self) -> int:
        return len(self.link)


def empty_bins() -> TraversalBins:
    """No bins."""
    return TraversalBins(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))


def bin_traversals(link, entry_ts_s, exit_ts_s, length_m, bin_s: float = 300.0,
                   max_speed_kph: float = 150.0) -> TraversalBins:
    """Group traversals by (link, bin of the midpoint time).

    Parameters
    ----------
    link : array_like of int
        Link index of each traversal.
    entry_ts_s, exit_ts_s : array_like of float
        Epoch seconds.
    length_m : array_like of float
        Length of every link, indexed by link index.
    bin_s : float
        Bin length, seconds.
    max_speed_kph : float
        Faster traversals are dropped (bad matches).

    Returns
    -------
    TraversalBins
    """
    link = np.asarray(link, dtype=np.int64)
    entry, exit_ = np.asarray(entry_ts_s, dtype=float), np.asarray(exit_ts_s, dtype=float)
    dist = np.asarray(length_m, dtype=float)[link]
    t = exit_ - entry
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (t > 0) & (dist / t * 3.6 <= max_speed_kph)
    link, dist, t = link[ok], dist[ok], t[ok]
    start = np.floor((entry[ok] + exit_[ok]) / 2 / bin_s) * bin_s
    return _group(link, start, np.ones(len(link), np.int64), dist, t, t * t)


def _group(link, start, n, dist, t, t2) -> TraversalBins:
    if len(link) == 0:
        return empty_bins()
    order = np.lexsort((start, link))
    link, start = link[order], start[order]
    first = np.ones(len(link), dtype=bool)
    first[1:] = (link[1:] != link[:-1]) | (start[1:] != start[:-1])
    at = np.flatnonzero(first)
    return TraversalBins(link[at], start[at], np.add.reduceat(n[order], at), np.add.reduceat(dist[order], at),
                         np.add.reduceat(t[order], at), np.add.reduceat(t2[order], at))


def accumulate(parts: Sequence[TraversalBins]) -> TraversalBins:
    """Sum bins of the same (link, bin) — batches of one stream, or partitions."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_bins()
    cat = [np.concatenate([getattr(p, f) for p in parts]) for f in TraversalBins.__dataclass_fields__]
    return _group(*cat)


def split_closed(bins: TraversalBins, watermark_ts: float, bin_s: float = 300.0) -> tuple[TraversalBins, TraversalBins]:
    """(bins that ended by ``watermark_ts``, the rest)."""
    closed = bins.bin_start_ts + bin_s <= watermark_ts
    return _take(bins, closed), _take(bins, ~closed)


def _take(bins: TraversalBins, mask: np.ndarray) -> TraversalBins:
    return TraversalBins(*(getattr(bins, f)[mask] for f in TraversalBins.__dataclass_fields__))


def fold(open_bins: TraversalBins, link, entry_ts_s, exit_ts_s, length_m, watermark_ts: float,
         bin_s: float = 300.0) -> tuple[TraversalBins, TraversalBins]:
    """Add a batch of traversals to the open bins; return (still open, closed by ``watermark_ts``).

    The stream's step: ``watermark_ts`` is the newest fix time less the matcher's lag and
    some lateness, so a closed bin gets no more traversals.
    """
    new = bin_traversals(link, entry_ts_s, exit_ts_s, length_m, bin_s)
    closed, still = split_closed(accumulate([open_bins, new]), watermark_ts, bin_s)
    return still, closed


def confidence(n, time_s, time_sq_s2, tolerance: float = 0.10, prior_cv: float = 0.3) -> np.ndarray:
    """P(|error of the mean traversal time| < ``tolerance``), normal approximation (see the module docstring)."""
    n = np.asarray(n, dtype=float)
    mean = np.asarray(time_s, dtype=float) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (np.asarray(time_sq_s2, dtype=float) - n * mean * mean) / (n - 1)
        cv = np.where(n > 1, np.sqrt(np.maximum(var, 0.0)) / mean, prior_cv)
        rse = cv / np.sqrt(n)
        z = tolerance / (rse * math.sqrt(2.0))
    erf = np.vectorize(math.erf, otypes=[float])  # per bin, not per fix
    return np.where(rse > 0, erf(np.where(rse > 0, z, 0.0)), 1.0)


def to_link_speeds(bins: TraversalBins, link_ids: Sequence[str]) -> list[LinkSpeed]:
    """``traffic.link_speeds`` records of the bins (``source="taxi"``), sorted by (bin, link)."""
    conf = bins.confidence()
    speed = bins.speed_kph
    ids = np.asarray(link_ids, dtype=object)[bins.link]
    out = [LinkSpeed(str(ids[i]), float(bins.bin_start_ts[i]), float(speed[i]), int(bins.n[i]),
                     float(bins.dist_m[i]), float(bins.time_s[i]), source="taxi", confidence=float(conf[i]),
                     time_sq_s2=float(bins.time_sq_s2[i]))
           for i in range(len(bins))]
    return sorted(out, key=lambda s: (s.bin_start_ts, s.link_id))
