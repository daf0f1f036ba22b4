"""What each agent's pure step costs at a city's scale, outside Faust: the compute floor of a worker.

Simulates the city (default: Seoul, 18.5) for ``--warm-up-s`` + ``--sim-seconds``
and runs the recorded batches, keyed as they are published, through the same pure functions
the agents call per message — decode, bus pipeline, bus link speeds, taxi map
matching, live vehicles, tap placement, card stage, loads, enforcement — in one
process, one after the other. The warm-up (every bus's first match, each route's
timetable index, the rule book's indexes) is run but not timed. Prints seconds and events/s per stage and their
sum: a worker cannot go faster than ``events / sum``; ``stream_throughput``'s
``total`` against this floor is what Faust, the broker and the outputs cost.
Stages are timed in CPU seconds of this process (``time.process_time``), so other
work on a shared machine slows the run but does not change the figures much.

    .venv/bin/python -m benchmarks.stage_costs [--scale 18.5] [--sim-seconds 120] [--warm-up-s 60]
    .venv/bin/python -m benchmarks.stage_costs --step-s 0.5 --sim-seconds 30   # real time's message sizes

``--step-s`` is the simulated seconds per published step: 5 s (default) gives the
backlog's large messages that ``stream_throughput`` drains; 0.5 s (the simulator's
tick at speed 1) the small messages of a real-time run, where per-call costs
dominate. The taxi stage folds each cell's messages of ``probe_batch_s`` in one
call, as the taxi agent does with what came within that window, and the bus link-speed stage
every route's fixes of that window in one call (``linkspeeds.advance_routes``), as its agent does.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import msgspec

from benchmarks.stream_throughput import CITY_SEED, simulate


def _timed(costs: dict, name: str, fn, *args):
    t0 = time.process_time()
    out = fn(*args)
    costs[name] += time.process_time() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=18.5)
    parser.add_argument("--sim-seconds", type=float, default=120.0, help="simulated seconds timed")
    parser.add_argument("--warm-up-s", type=float, default=60.0, help="simulated seconds run first, not timed")
    parser.add_argument("--step-s", type=float, default=5.0, help="simulated seconds per published step")
    args = parser.parse_args()

    from enforcement import engine
    from streams.bus import route_view
    from streams.bus.network import network_feed
    from streams.bus.pipeline import RouteState, observe_taps, route_model
    from streams.bus.predictions import PredictParams
    from streams.demand import boardings, loads, od
    from streams.demand.taps import RoutePatterns, by_card_bucket, by_route
    from streams.enforcement.inputs import rule_book
    from streams.enforcement.outcome import zone_state
    from streams.live import state as livestate
    from streams.traffic import linkspeeds, mapmatch, taxi_speeds
    from topis import topics, wire
    from topis.schemas.inputs import PositionBatch, ReadBatch, TapBatch
    from topis.schemas.probes import TaxiFixes
    from topis.settings import CitySettings, EnforcementSettings, StreamSettings
    from topis.sim.feeder import reads_by_key

    city, _, outputs, _ = simulate(args.scale, args.warm_up_s + args.sim_seconds, args.step_s)
    warm_up_steps = int(args.warm_up_s / args.step_s)
    settings = CitySettings(seed=CITY_SEED, scale=args.scale)
    streams = StreamSettings()
    t0 = time.perf_counter()
    feed = network_feed(streams, settings)
    patterns = RoutePatterns.from_feed(feed)
    predict = PredictParams(repredict_every_s=streams.repredict_every_s)  # as the bus agent makes them
    models = {r: route_model(feed, r, predict=predict) for r in feed.routes}
    bus_net = linkspeeds.road_network(None, lambda: city)
    roads = mapmatch.network_from_city(city)
    rules = rule_book(city, EnforcementSettings())
    boot_s = time.perf_counter() - t0
    section_of = {c.camera_id: c.section_id for c in city.cameras}

    # encode as the publisher does, so decoding is measured too
    taxi_window_steps = max(1, round(StreamSettings().probe_batch_s / args.step_s))
    messages = []
    for step, out in enumerate(outputs):
        if step == warm_up_steps:
            messages.append(("start timing", "", b""))
        for key, fixes in out.positions.items():
            messages.append(("bus", key, wire.encode(PositionBatch(fixes))))
        for key, taps in out.taps.items():
            messages.append(("tap", key, wire.encode(TapBatch(taps))))
        for key, reads in reads_by_key(out.reads, section_of).items():
            messages.append(("read", key, wire.encode(ReadBatch(reads))))
        for key, batch in out.taxis.items():
            messages.append(("taxi", key, wire.encode(batch)))
        if (step + 1) % taxi_window_steps == 0:
            messages.append(("taxi window", "", b""))
    kinds = {"bus": topics.BUS_POSITIONS.value, "tap": topics.CARD_TAPS.value, "read": topics.PLATE_READS.value,
             "taxi": topics.TAXI_POSITIONS.value}

    costs: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    outputs_n: dict[str, int] = defaultdict(int)
    sends: dict[str, int] = defaultdict(int)  # Kafka messages the agents would send
    messages_in: dict[str, int] = defaultdict(int)
    live_routes: dict = {}
    link_states: dict = {}
    vehicles: dict = {}
    tap_states: dict = {}
    cards: dict = {}
    od_counts: dict = {}
    route_loads: dict = {}
    cells: dict = {}
    taxi_window: dict = {}  # cell -> its fixes since the taxi agent's last batch
    bus_window: dict = {}  # route -> its fixes since the bus link agent's last batch
    zones: dict = {}
    saved = engine.new_state(rules)
    for kind, key, raw in messages:
        if kind == "start timing":
            costs.clear()
            counts.clear()
            outputs_n.clear()
            sends.clear()
            messages_in.clear()
            continue
        if kind == "taxi window":  # the taxi agent's batch: each cell's fixes in one call
            for cell, parts in taxi_window.items():
                closed = _timed(costs, "taxi map matching + bins", taxi_speeds.advance,
                                cells.setdefault(cell, taxi_speeds.CellState()), TaxiFixes.concat(parts), roads)
                outputs_n["traffic.link_speeds (taxi)"] += len(closed)
                sends["traffic.link_speeds (taxi)"] += bool(closed)
            taxi_window.clear()
            for route_id in bus_window:
                link_states.setdefault(route_id, linkspeeds.LinkSpeedState())
            speeds_by_route = _timed(costs, "bus link speeds", linkspeeds.advance_routes, link_states, bus_window,
                                     bus_net)
            for speeds in speeds_by_route.values():
                outputs_n["traffic.link_speeds (bus)"] += len(speeds)
                sends["traffic.link_speeds (bus)"] += bool(speeds)
            bus_window.clear()
            continue
        batch = _timed(costs, f"decode {kind}", wire.decode, raw, kinds[kind])
        n = len(batch) if kind == "taxi" else len(batch.events)
        counts[kind] += n
        messages_in[kind] += 1
        if kind == "bus" and key in models:
            live = live_routes.setdefault(key, route_view.LiveRoute(RouteState(key)))
            published, predictions = _timed(costs, "bus pipeline (track_routes)", route_view.advance, live,
                                            batch.events, models[key])
            bus_window.setdefault(key, []).extend(batch.events)
            for topic, out in (("bus.events", published), ("bus.predictions (rounds)", predictions)):
                outputs_n[topic] += len(out)
                sends[topic] += bool(out)
            outputs_n["predictions in the rounds"] += sum(len(r.stop_ids) for r in predictions)
            vehicles[key] = _timed(costs, "live vehicles", livestate.track, vehicles.get(key), batch.events,
                                   time.time(), streams.vehicle_timeout_s)
        elif kind == "taxi":
            taxi_window.setdefault(key, []).append(batch.arrays())
        elif kind == "tap" and key in models:
            _timed(costs, "taps: boarding rates", observe_taps, live_routes.setdefault(
                key, route_view.LiveRoute(RouteState(key))).pipeline, batch.events, models[key])
            _, located = _timed(costs, "taps: locate", boardings.advance,
                                tap_states.setdefault(key, boardings.RouteTapState(key)), batch.events, patterns)
            for bucket, lt in by_card_bucket(located).items():
                sends["card.located"] += 1
                _, card_out = _timed(costs, "taps: card stage + OD", od.advance,
                                     cards.setdefault(bucket, od.CardLinkState()), lt.events, patterns)
                _timed(costs, "taps: card stage + OD", od.accumulate, od_counts.setdefault(bucket, od.ODCounts()),
                       card_out.journeys)
                for route_id, rides in by_route(card_out.rides).items():
                    sends["card.rides"] += 1
                    _timed(costs, "taps: loads", loads.advance, route_loads.setdefault(route_id, loads.RouteLoadState(route_id)),
                           rides.events, patterns)
        elif kind == "read":
            state = zones.get(key) or zones.setdefault(key, zone_state(saved, key, rules))
            _timed(costs, "enforcement rules", engine.process, state, batch.events)

    events = sum(counts.values())
    total_s = sum(costs.values())
    print(f"\nstage costs, scale {args.scale}, {args.sim_seconds:.0f} simulated s; boot (feed, networks, rules) "
          f"{boot_s:.1f} s")
    print("  events: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print("  input messages: " + ", ".join(f"{k} {v:,}" for k, v in messages_in.items()))
    print("  outputs: " + ", ".join(f"{k} {v:,}" + (f" in {sends[k]:,} messages" if k in sends else "")
                                    for k, v in outputs_n.items()))
    print("  other messages sent: " + ", ".join(f"{k} {v:,}" for k, v in sends.items() if k not in outputs_n)
          + " (the agent batches tap messages: fewer located messages than here, one per input message)")
    width = max(len(k) for k in costs)
    for name, s in sorted(costs.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<{width}}  {s:7.2f} s  {s / total_s:6.1%}")
    print(f"  {'sum':<{width}}  {total_s:7.2f} s  = {args.sim_seconds / total_s:.1f} simulated s per s")
    print(f"\ncompute floor {events / total_s:,.0f} events/s".replace(",", ""))
    _per_wall_second(live_routes, streams)


def _per_wall_second(live_routes: dict, streams) -> None:
    """What the bus agent's timers cost per wall second at speed 1, when every route changes every second:
    one ``state.routes`` snapshot per route per ``route_snapshot_interval_s`` (all its Marey points every
    ``marey_full_every_s``, the last interval's in between), one checkpoint per ``checkpoint_every_s``."""
    from streams.bus import route_view
    from streams.bus.headways import HeadwayParams
    from topis import wire

    params, now = HeadwayParams(), time.time()
    every_s, full_every_s, ckpt_every_s = (streams.route_snapshot_interval_s, streams.marey_full_every_s,
                                           streams.checkpoint_every_s)

    def encoded(full: bool) -> tuple[dict[str, bytes], float]:
        t0 = time.process_time()
        out = {}
        for r, live in live_routes.items():
            sent = None if full else {t: pts[-1][0] - every_s for t, pts in live.view.marey.items() if pts}
            marey, _ = route_view.marey_update(live.view.marey, sent)
            out[r] = wire.encode(route_view.snapshot(r, live, params, now, marey=marey, marey_full=full))
        return out, time.process_time() - t0

    fulls, full_s = encoded(True)
    deltas, delta_s = encoded(False)
    t0 = time.process_time()
    checkpoints = {r: wire.encode(live) for r, live in live_routes.items()}
    checkpoint_s = time.process_time() - t0
    full_bytes, delta_bytes = sum(map(len, fulls.values())), sum(map(len, deltas.values()))
    ckpt_bytes = sum(map(len, checkpoints.values()))
    fields: dict[str, int] = defaultdict(int)
    for raw in fulls.values():
        for name, value in msgspec.json.decode(raw).items():
            fields[name] += len(msgspec.json.encode(value))
    share = 1.0 / max(1.0, full_every_s / every_s)  # of the snapshots, the full ones
    cpu_s = (share * full_s + (1 - share) * delta_s) / every_s
    bytes_s = (share * full_bytes + (1 - share) * delta_bytes) / every_s
    n = len(live_routes)
    print(f"\nper wall second at speed 1 ({n} routes, all changed):")
    print(f"  state.routes: {cpu_s:.3f} s CPU/s, {bytes_s / 1e6:.2f} MB/s before compression "
          f"({delta_bytes / n / 1e3:.1f} KB per route each {every_s:g} s; with all Marey points, every "
          f"{full_every_s:g} s, {full_bytes / n / 1e3:.1f} KB: "
          + ", ".join(f"{k} {v / full_bytes:.0%}" for k, v in sorted(fields.items(), key=lambda kv: -kv[1])[:4])
          + f"); zstd in 50-message batches: {_zstd_ratio(list(deltas.values())):.1f}x smaller")
    print(f"  route checkpoints: {checkpoint_s / ckpt_every_s:.3f} s CPU/s, {ckpt_bytes / ckpt_every_s / 1e6:.2f} MB/s "
          f"({ckpt_bytes / n / 1e3:.1f} KB per route every {ckpt_every_s:.0f} s); "
          f"zstd {_zstd_ratio(list(checkpoints.values())):.1f}x smaller")


def _zstd_ratio(values: list[bytes], batch: int = 50) -> float:
    """How much smaller zstd makes ``values`` in producer batches of ``batch`` messages (as Kafka compresses)."""
    import cramjam

    packed = sum(len(cramjam.zstd.compress(b"".join(values[i:i + batch]))) for i in range(0, len(values), batch))
    return sum(map(len, values)) / packed


if __name__ == "__main__":
    main()
