"""A stream worker: every domain's agents on one Faust app, with the inputs they serve.

:func:`build_app` is the composition root of ``streams``: it builds the app
(:func:`streams.runtime.app.new_app`), loads what the agents serve (the bus
network as GTFS, the road links, the enforcement rule book and case store) and
declares each domain that the settings turn on (one class per domain, whose
methods are its agents and timers):

==============  ==============================================  =====================
domain          agents                                          switch
==============  ==============================================  =====================
live            latest positions, events per minute             always
bus             matching, arrivals, headways, predictions       ``bus_operations``
demand          taps → rides → loads, OD; planner inputs        ``demand``
traffic         link speeds from probes                         ``demand``
planning        live headway, Squirrel and Owl plans            ``planning``
enforcement     plate reads → rules → cases                     ``enforcement``
==============  ==============================================  =====================
"""

from __future__ import annotations

import functools

from streams.runtime.app import TopisApp, new_app
from topis.schemas.validation import Limits, area_around
from topis.settings import BrokerSettings, CitySettings, EnforcementSettings, StreamSettings


def build_app(broker: BrokerSettings, streams: StreamSettings, city: CitySettings | None = None,
              enforcement: EnforcementSettings | None = None, **overrides) -> TopisApp:
    """A Faust app with topis's agents, for ``broker`` (must not be 'embedded': start it first).

    ``city`` names the demo city whose feed, roads and cameras the agents serve
    when ``streams.gtfs_dir`` is not set; ``enforcement`` is the rule and case-store
    section of the settings (its defaults when not given).
    """
    from streams.bus.network import network_feed
    from streams.live.agents import LiveAgents
    from streams.runtime.commit_watch import CommitWatch
    from streams.runtime.decode import DeadLetters
    from streams.runtime.health import HealthReport

    app = new_app(broker, streams, **overrides)
    city = city or CitySettings()
    demo_city = functools.cache(lambda: _generate(city))  # generated at most once, and only if needed
    feed = network_feed(streams, city) if (streams.bus_operations or streams.demand or streams.planning) else None
    dead_letters = DeadLetters(app, input_limits(streams, feed))
    LiveAgents(app, streams, dead_letters)
    watch = CommitWatch(app, streams.commit_stuck_s, streams.commit_watch_every_s, streams.behind_limit_messages)
    app.topis_health = HealthReport(app, watch, streams.health_every_s)
    if streams.bus_operations:
        from streams.bus.agents import BusAgents

        BusAgents(app, streams, feed, dead_letters)
    if streams.demand:
        from streams.demand.agents import DemandAgents
        from streams.demand.taps import RoutePatterns
        from streams.traffic.agents import TrafficAgents
        from streams.traffic.linkspeeds import road_network

        patterns = RoutePatterns.from_feed(feed)
        DemandAgents(app, streams, patterns, dead_letters)
        roads = None
        if streams.taxi_probes and not streams.gtfs_dir:
            from streams.traffic.mapmatch import network_from_city

            roads = network_from_city(demo_city())
        TrafficAgents(app, streams, patterns, road_network(feed if streams.gtfs_dir else None, demo_city),
                      dead_letters, roads)
    if streams.planning:
        from streams.planning.agents import PlanningAgents

        PlanningAgents(app, streams, feed, dead_letters)
    if streams.enforcement:
        from streams.enforcement.agents import EnforcementAgents
        from streams.enforcement.inputs import case_store, rule_book

        enforcement = enforcement or EnforcementSettings()
        EnforcementAgents(app, rule_book(demo_city(), enforcement), case_store(streams, enforcement), dead_letters)
    return app


def input_limits(streams: StreamSettings, feed=None) -> Limits:
    """What the decode edge accepts: the settings' bounds, and the area of ``feed``'s stops when there is a feed."""
    stops = list(feed.stops.values()) if feed is not None else []
    area = area_around([s.lat for s in stops], [s.lon for s in stops], streams.city_margin_m) if stops else None
    return Limits(max_value_bytes=streams.max_message_bytes, max_future_s=streams.max_future_s, area=area)


def _generate(city: CitySettings):
    from topis.city.generate import generate_city

    return generate_city(seed=city.seed, scale=city.scale)
