"""Planning messages: requests on ``plans.requests`` and proposals on ``plans.proposed`` (key = plan kind).

A proposal compares what the city runs now with what a planner proposes, as
table rows (one per route), map lines (GeoJSON) and KPIs; it is what the
dashboard's plans page shows and what :mod:`optimizer.live` computes.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import msgspec

#: the plans a worker makes (:data:`optimizer.live.KINDS` lists the same, in the same order).
PlanKind = Literal["headways", "squirrel", "owl"]
PLAN_KINDS: tuple[str, ...] = get_args(PlanKind)


class PlanRequest(msgspec.Struct, frozen=True):
    """A planner's request: plan ``kind`` now."""

    kind: PlanKind  #: which plan
    requested_by: str = ""  #: who asked (shown in the worker's log)
    ts: float = 0.0  #: when, wall epoch seconds UTC


class Kpi(msgspec.Struct, frozen=True):
    """One key figure of a plan, now and proposed."""

    current: float | None  #: what the city runs now (None: not defined, e.g. no demand)
    proposed: float | None  #: with the proposal
    unit: str  #: e.g. "pax·min/h", "buses", "%"
    better: Literal["lower", "higher"]  #: which way is an improvement


class PlanSide(msgspec.Struct, frozen=True):
    """One side of a comparison: rows for the table and, when the plan has lines, a map."""

    rows: list[dict[str, Any]]  #: one per route: "route", "buses", "headway_min" and the plan kind's own columns
    geojson: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET  #: a FeatureCollection of route lines


class PlanProposal(msgspec.Struct, frozen=True):
    """Current vs proposed plan with KPIs; a recomputation of the same window replaces it (same ``plan_id``)."""

    plan_id: str  #: deterministic from the kind and the input window, e.g. "headways-2026-11-24T08"
    kind: PlanKind
    created_ts: float  #: when the inputs were taken (the city clock where known), epoch seconds
    title: str  #: one line for people
    window: str  #: the input window, e.g. "2026-11-24T08", "2026-11-24-peak", "2026-11-24-night"
    current: PlanSide
    proposed: PlanSide
    kpis: dict[str, Kpi]  #: KPI name → values
