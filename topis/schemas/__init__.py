"""Message schemas: the value type of every Kafka topic in :mod:`topis.topics`, one module per domain.

======================  =========================================================  ==============
module                  messages                                                   topics
======================  =========================================================  ==============
:mod:`.inputs`          bus positions, card taps, plate reads, in batches          bus.positions, card.taps, plate.reads
:mod:`.probes`          taxi GPS fixes, a batch of columns per probe cell          taxi.positions
:mod:`.bus`             matched fixes, stop arrivals/departures, headways,         bus.events, bus.predictions
                        bunching/gapping alerts, arrival predictions
:mod:`.state`           the read model: vehicles, counters, route views            state.vehicles, state.counters, state.routes
:mod:`.demand`          located taps, rides, Squirrel and Owl planner inputs       card.located, card.rides, demand.squirrel, demand.owl
:mod:`.traffic`         link speeds per 5-minute bin                               traffic.link_speeds
:mod:`.enforcement`     watch-list hits                                            enforcement.alerts
:mod:`.plans`           plan requests and proposals                                plans.requests, plans.proposed
:mod:`.deadletter`      rejected messages with their reason and source offset      deadletter
:mod:`.validation`      what an input message must be: checks and reason codes     bus.positions, card.taps, plate.reads
======================  =========================================================  ==============

Conventions
-----------
* ``ts`` is epoch seconds (UTC, float). Wall-clock strings never travel.
* Positions are WGS84 degrees; speeds km/h; headings degrees clockwise from
  north; distances metres. Units are in the field names.
* An optional field that the source did not report is ``None``, never a
  sentinel number; a field that a message kind does not have is left out
  (``msgspec.UNSET``). Columnar batches (:mod:`.probes`) use NaN instead, as
  a numpy column has no ``None``.
* A ``schema`` tag names a message type and its major version
  (``bus.position/1``); a consumer rejects a tag it does not know.

Every schema is a msgspec Struct (or a list or union of them), encoded as JSON
(``bytes`` fields as base64) by :func:`topis.wire.encode` and decoded, with type checking, by
:func:`topis.wire.decode`. Importing this package imports nothing heavy.
"""
