"""Simulator: buses, passengers and cars of the demo city, producing wire events and ground truth.

Public API (import from the modules; this package imports nothing):

* ``topis.sim.simulator``: ``Simulator(city, seed, start_ts, config=SimConfig())`` with
  ``step(dt_s) -> StepOutput`` (``positions``/``taps`` by route, ``reads`` by camera,
  ``stop_visits``, ``violations``), ``now_ts``, ``truth``, ``write_truth(dir)``
* ``topis.sim.truth``: ``StopVisit``, ``Violation``, ``Truth``
* ``topis.sim.recording``: ``Recorder(path).write(topic, by_key)``, ``read(path)``,
  ``batch_messages``, ``write_reads_csv`` (READS.csv for ``topis enforce``)
* ``topis.sim.traffic``: the rule predicates the truth uses (``bus_lane_enforced``, ``green_zone_banned``)
"""
