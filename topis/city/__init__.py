"""Demo city: a Seoul-like road graph, bus network, cameras and vehicle registry generated from a seed.

Public API (import from the modules; this package imports nothing):

* ``topis.city.generate.generate_city(seed=1, scale=1.0, year=2026, holiday_changes=None) -> City``
* ``topis.city.model``: ``City``, ``Stop``, ``Route``, ``Pattern``, ``Trip``, ``Bus``, ``Camera``,
  ``Vehicle``, ``District``; ``trip_stop_times_s``, ``local_date``, ``local_hour``, ``local_midnight_ts``
* ``topis.city.export``: ``write_gtfs``, ``write_cameras_csv``, ``write_registry_csv``,
  ``write_holidays``, ``city_geojson``, ``write_geojson``, ``write_all``
* CLI: ``topis city export --out DIR [--seed N] [--scale X] [--year Y] [--holiday-overrides FILE]`` (``topis.city.cli:city``)
"""
