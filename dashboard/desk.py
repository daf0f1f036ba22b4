"""What every page needs, built once at the entry point and passed to the pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dashboard import access
from dashboard.readmodel import CityState, ReadModel, watch_hit_id
from dashboard.store import DeskStore, User
from enforcement.store import CaseStore
from topis.geo import Projection
from topis.settings import DashboardSettings, DeskSettings, EnforcementSettings

KST = dt.timezone(dt.timedelta(hours=9))


@dataclass
class Desk:
    """Services and static map layers shared by the pages."""

    settings: DashboardSettings
    proj: Projection
    base: list  #: static plotly traces of the city (basemap.base_traces)
    roads: dict[str, tuple[list, list]]  #: link_id -> projected polyline
    cameras: dict[str, tuple[float, float]]  #: camera_id -> (lat, lon)
    stops: dict[str, tuple[float, float]]  #: stop_id -> (lat, lon)
    read_model: ReadModel
    records: DeskStore
    cases: CaseStore
    enforcement: EnforcementSettings
    desk_settings: DeskSettings


def local_time(ts: float | None, fmt: str = "%H:%M:%S") -> str:
    """Seoul local time of an epoch second ("–" when unknown)."""
    return "–" if ts is None else dt.datetime.fromtimestamp(ts, KST).strftime(fmt)


def with_store_hits(state: CityState, desk: Desk, limit: int = 100) -> CityState:
    """``state`` (a copy) with the newest watch-list hits of the case store added to those from the topic.

    The enforcement agent writes every hit to the store's ``alerts`` table, so
    the feed shows them even when nothing publishes ``enforcement.alerts``;
    a hit seen both ways has the same ``alert_id`` and is listed once.
    """
    for hit in reversed(desk.cases.recent_alerts(limit)):
        state.watch_hits.setdefault(watch_hit_id(hit), hit)
    return state


def watch_view(desk: Desk, user: User | None, *, on_wall: bool) -> str | None:
    """How this request's user sees watch-list hits (:func:`dashboard.access.watch_list_view`)."""
    return access.watch_list_view(user.role if user else None, on_wall=on_wall,
                                  public_enforcement=desk.desk_settings.wall_public_enforcement)


def state_for(desk: Desk, view: str | None) -> CityState:
    """The read model's state as a user with watch-list ``view`` may see it: no watch-list hit at all when None."""
    state = desk.read_model.state()
    if view is None:
        state.watch_hits = {}  # the copy's own dict: the read model keeps its hits
        return state
    return with_store_hits(state, desk)
