"""Feed the broker: run the simulator against a clock, or replay a recording.

The simulator itself is pure (``topis.sim``); this module paces it (real
time, ×10, ×60 ...), publishes each step's batches and optionally records
them so the same morning can be replayed later.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from topis import topics
from topis.publish import Publisher
from topis.settings import CitySettings, SimSettings

log = logging.getLogger(__name__)

KST = dt.timezone(dt.timedelta(hours=9))


class FeederError(RuntimeError):
    """Bad simulator settings or an unreadable recording."""


def start_ts(sim: SimSettings, today: dt.date | None = None) -> float:
    """Epoch seconds of the simulated start: ``sim.start_date`` (or the next weekday) at ``sim.start_time`` KST."""
    try:
        hour, minute = (int(part) for part in sim.start_time.split(":"))
        clock = dt.time(hour, minute)
    except ValueError:
        raise FeederError(f"start time must be HH:MM, got {sim.start_time!r}") from None
    if sim.start_date:
        try:
            day = dt.date.fromisoformat(sim.start_date)
        except ValueError:
            raise FeederError(f"start date must be YYYY-MM-DD, got {sim.start_date!r}") from None
    else:
        day = today or dt.datetime.now(KST).date()
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
    return dt.datetime.combine(day, clock, KST).timestamp()


def reads_by_key(reads_by_camera: dict[str, list], section_of: dict[str, str | None]) -> dict[str, list]:
    """Group a step's reads under their plate.reads message key (see topics.plate_read_key)."""
    by_key: dict[str, list] = {}
    for camera_id, reads in reads_by_camera.items():
        by_key.setdefault(topics.plate_read_key(camera_id, section_of.get(camera_id)), []).extend(reads)
    return {key: sorted(reads, key=lambda r: r.ts) for key, reads in by_key.items()}


def _publish_step(publisher: Publisher, out, recorder, section_of: dict[str, str | None]) -> int:
    published = 0
    for topic, by_key in ((topics.BUS_POSITIONS.name, out.positions), (topics.CARD_TAPS.name, out.taps),
                          (topics.PLATE_READS.name, reads_by_key(out.reads, section_of)),
                          (topics.TAXI_POSITIONS.name, out.taxis)):
        if topic == topics.TAXI_POSITIONS.name:
            publisher.send_batches(topic, by_key)  # one columnar batch per probe cell, built by the simulator
        else:
            publisher.send(topic, by_key)
        published += sum(len(v) for v in by_key.values())
        if recorder is not None:
            recorder.write(topic, by_key)
    return published


def run_simulation(servers: list[str], city_settings: CitySettings, sim: SimSettings,
                   duration_s: float | None = None, record_path: str | None = None,
                   truth_dir: str | None = None) -> int:
    """Simulate and publish until ``duration_s`` simulated seconds (or forever); return events sent.

    Ground truth (true stop visits, violations, taxi fixes with their true
    link and link speed) is kept only when ``truth_dir`` is given, and written
    there at the end: on an endless run it would grow without bound.
    """
    from topis.city.generate import generate_city
    from topis.sim import recording
    from topis.sim.simulator import SimConfig, Simulator

    t0 = start_ts(sim)
    city = generate_city(seed=city_settings.seed, scale=city_settings.scale)
    config = SimConfig(record_truth=truth_dir is not None, taxis_per_scale=sim.taxis_per_scale,
                       taxi_fix_interval_s=sim.taxi_fix_interval_s)
    simulator = Simulator(city, seed=sim.seed, start_ts=t0, config=config)
    log.info("simulating %d buses and %d taxis from %s at x%g", city.fleet_size,
             len(simulator.taxis) if simulator.taxis is not None else 0, dt.datetime.fromtimestamp(t0, KST), sim.speed)
    recorder = recording.Recorder(Path(record_path)) if record_path else None
    section_of = {c.camera_id: c.section_id for c in city.cameras}
    sent = 0
    step_s = sim.tick_s * sim.speed
    next_tick = time.monotonic()
    last_report = next_tick
    try:
        with Publisher(servers) as publisher:
            while duration_s is None or simulator.now_ts - t0 < duration_s:
                sent += _publish_step(publisher, simulator.step(step_s), recorder, section_of)
                next_tick += sim.tick_s
                lag_s = time.monotonic() - next_tick
                if lag_s < 0:
                    time.sleep(-lag_s)
                elif lag_s > 5 * sim.tick_s:
                    log.warning("simulator is %.1f s behind the clock; lower --speed or --scale", lag_s)
                    next_tick = time.monotonic()
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    log.info("sim clock %s, %d events sent", dt.datetime.fromtimestamp(simulator.now_ts, KST), sent)
    finally:
        if recorder is not None:
            recorder.close()
        if truth_dir is not None:
            simulator.write_truth(truth_dir)
    return sent


def replay_recording(servers: list[str], path: str, speed: float) -> int:
    """Publish a recording, paced at ``speed`` × its own clock; return messages sent."""
    from topis.sim import recording

    sent = 0
    wall0 = time.monotonic()
    sim0: float | None = None
    try:
        with Publisher(servers) as publisher:
            for msg in recording.read(Path(path)):
                sim0 = msg.ts if sim0 is None else sim0
                delay_s = (msg.ts - sim0) / speed - (time.monotonic() - wall0)
                if delay_s > 0:
                    time.sleep(delay_s)
                publisher.send_raw(msg.topic, msg.key, msg.value)
                sent += 1
    except (OSError, ValueError) as exc:
        raise FeederError(f"cannot replay {path}: {exc}") from exc
    return sent
