"""What the bus agents serve: the bus network, a GTFS feed.

With ``streams.gtfs_dir`` set, that feed is used (a real city's GTFS). Without
it, the demo city's feed is exported once into the data directory (keyed by
the city's seed and scale, written atomically so several workers can start at
once) and loaded from there.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from streams.bus.gtfs import Feed, load_feed
from topis.settings import CitySettings, StreamSettings

log = logging.getLogger(__name__)


def demo_feed_dir(streams: StreamSettings, city: CitySettings) -> Path:
    """Folder of the demo city's GTFS feed, exporting it first if needed."""
    target = streams.data_dir / f"city-{city.seed}-{city.scale:g}" / "gtfs"
    if (target / "trips.txt").exists():
        return target
    from topis.city.export import write_gtfs
    from topis.city.generate import generate_city

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix="gtfs-"))
    write_gtfs(generate_city(seed=city.seed, scale=city.scale), staging)
    try:
        os.rename(staging, target)
    except OSError:  # another worker got there first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def network_feed(streams: StreamSettings, city: CitySettings) -> Feed:
    """The GTFS feed of the network the workers serve."""
    folder = streams.gtfs_dir or demo_feed_dir(streams, city)
    log.info("loading GTFS feed from %s", folder)
    return load_feed(folder)
