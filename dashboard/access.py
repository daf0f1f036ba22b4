"""Who sees what: the role rules that pages and their callbacks apply on the server.

A page hides nothing in the browser: what a role may not see is left out of
the layout and of every callback's answer.

==============  ===================  ====================  ================
role            enforcement cases    watch-list hits       on the wall
==============  ===================  ====================  ================
enforcement     list, read, decide   full plates           masked plates
controller      counts only          masked plates         masked plates
planner         counts only          none                  none
no login        –                    none [*]              none [*]
==============  ===================  ====================  ================

[*] masked plates when ``DeskSettings.wall_public_enforcement``.

The wall's tile of open enforcement cases (a count) is shown to everyone who
may see the wall: it names no case, plate or place.
"""

from __future__ import annotations

#: roles that may list and read enforcement cases (the others see counts only)
CASE_READERS = ("enforcement",)
#: roles that may claim, confirm, dismiss and release cases
CASE_DECIDERS = ("enforcement",)
#: roles that see watch-list hits; plates in full only for enforcement staff and not on the shared wall
WATCH_LIST_READERS = ("enforcement", "controller")

FULL, MASKED = "full", "masked"


def can_read_cases(role: str | None) -> bool:
    return role in CASE_READERS


def can_decide_cases(role: str | None) -> bool:
    return role in CASE_DECIDERS


def watch_list_view(role: str | None, *, on_wall: bool, public_enforcement: bool = False) -> str | None:
    """How ``role`` (None: no login) sees watch-list hits: :data:`FULL` plates, :data:`MASKED`, or None (not at all)."""
    if role is None:
        return MASKED if public_enforcement else None
    if role not in WATCH_LIST_READERS:
        return None
    return FULL if role == "enforcement" and not on_wall else MASKED
