"""Korean public holidays: the one holiday calendar of the project.

The source is the South Korea (``KR``) calendar of the `holidays` package: the
fixed-date holidays, the lunar ones (Seollal, Buddha's Birthday, Chuseok), the
substitute ("alternative") holidays, election days and the temporary holidays
it knows of. A holiday file can add days the package does not know yet (an
election or a temporary holiday declared late) or remove days.

Holiday file
------------
UTF-8 text, one day a line; ``#`` starts a comment, blank lines are ignored.
A line is ``DATE`` or ``DATE,NAME`` (CSV, so a name with a comma is quoted),
with an optional header line ``date`` or ``date,name``. ``DATE`` is an ISO date
(``2026-06-03``); a leading ``-`` (``-2026-05-01``) removes the day instead of
adding it. For example::

    date,name
    2028-04-12,National Assembly election   # add a day
    -2026-05-01                             # remove a day

The same format serves as an override file on top of this calendar
(:func:`korean_holidays` with ``changes``) and as a whole calendar of its own
(``topis enforce --holidays``, :func:`enforcement.rules.load_holidays`).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import holidays as _holidays_pkg

#: years the calendar knows (those of the ``holidays`` package's KR calendar)
YEARS = range(_holidays_pkg.KR.start_year, _holidays_pkg.KR.end_year + 1)
#: columns of a holiday file, in order; ``date`` is required
HOLIDAY_FILE_COLUMNS = ("date", "name")


@dataclass(frozen=True)
class HolidayChanges:
    """Days a holiday file adds (with their names, ``""`` when unnamed) and days it removes."""

    added: Mapping[dt.date, str] = field(default_factory=dict)
    removed: frozenset[dt.date] = frozenset()

    def apply(self, days: Iterable[dt.date]) -> frozenset[dt.date]:
        """``days`` plus the added days, minus the removed ones (a removal wins)."""
        return (frozenset(days) | frozenset(self.added)) - self.removed


def parse_holiday_file(lines: Iterable[str], source: str = "<holidays>") -> HolidayChanges:
    """Parse a holiday file (format in the module docstring).

    Parameters
    ----------
    lines : iterable of str
        The file's lines.
    source : str
        Name used in error messages (the path).

    Returns
    -------
    HolidayChanges

    Raises
    ------
    ValueError
        Naming ``source:line`` of the first bad line: not an ISO date, an unknown
        header column, or more fields than columns.
    """
    columns: tuple[str, ...] | None = None
    added: dict[dt.date, str] = {}
    removed: set[dt.date] = set()
    for lineno, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        fields = [f.strip() for f in next(csv.reader([text]))]
        if columns is None and fields[0].lower() == "date":
            columns = tuple(f.lower() for f in fields)
            unknown = [c for c in columns if c not in HOLIDAY_FILE_COLUMNS]
            if unknown or len(set(columns)) != len(columns):
                raise ValueError(f"{source}:{lineno}: header {text!r}: the columns are date[,name]")
            continue
        columns = columns or HOLIDAY_FILE_COLUMNS
        if len(fields) > len(columns):
            raise ValueError(f"{source}:{lineno}: {len(fields)} fields, expected {','.join(columns)}: {text!r}")
        row = dict(zip(columns, fields))
        day_text = row.get("date", "")
        remove = day_text.startswith("-")
        try:
            day = dt.date.fromisoformat(day_text[1:] if remove else day_text)
        except ValueError:
            raise ValueError(f"{source}:{lineno}: not an ISO date: {day_text!r}") from None
        if remove:
            removed.add(day)
        else:
            added[day] = row.get("name", "")
    return HolidayChanges(added, frozenset(removed))


def read_holiday_file(path: str | Path) -> HolidayChanges:
    """Read a holiday file (see :func:`parse_holiday_file`); a UTF-8 byte-order mark is allowed."""
    path = Path(path)
    with path.open(encoding="utf-8-sig") as fh:
        return parse_holiday_file(fh, source=str(path))


def korean_holidays(years: Iterable[int], changes: HolidayChanges | None = None) -> tuple[dt.date, ...]:
    """Sorted public holidays of South Korea in the given years, substitute holidays included.

    Parameters
    ----------
    years : iterable of int
        Years, each in :data:`YEARS`.
    changes : HolidayChanges, optional
        An override file's days to add and remove; days outside ``years`` are ignored.

    Raises
    ------
    ValueError
        For a year outside :data:`YEARS`.
    """
    years = sorted(set(years))
    unknown = [y for y in years if y not in YEARS]
    if unknown:
        raise ValueError(f"no Korean holiday calendar for {unknown}; known years: {YEARS.start}-{YEARS.stop - 1}")
    days = frozenset(_holidays_pkg.country_holidays("KR", years=years))
    if changes is not None:
        days = changes.apply(days)
    wanted = set(years)
    return tuple(sorted(d for d in days if d.year in wanted))
