"""Korean public holidays for the demo years.

Fixed-date holidays are generated; lunar-calendar holidays (Seollal, Buddha's
Birthday, Chuseok), substitute holidays and election days are a hand-entered
table for 2025-2027 (source: the official calendars of the Ministry of the
Interior and Safety as published).
"""

from __future__ import annotations

import datetime as dt

#: month, day of the solar (fixed-date) holidays
FIXED = ((1, 1), (3, 1), (5, 5), (6, 6), (8, 15), (10, 3), (10, 9), (12, 25))

#: lunar-derived, substitute and election holidays, ISO dates
LUNAR_AND_SUBSTITUTE = {
    2025: ("2025-01-27", "2025-01-28", "2025-01-29", "2025-01-30", "2025-03-03", "2025-05-06",
           "2025-06-03", "2025-10-05", "2025-10-06", "2025-10-07", "2025-10-08"),
    2026: ("2026-02-16", "2026-02-17", "2026-02-18", "2026-03-02", "2026-05-24", "2026-05-25",
           "2026-06-03", "2026-08-17", "2026-09-24", "2026-09-25", "2026-09-26", "2026-10-05"),
    2027: ("2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-05-13", "2027-08-16",
           "2027-09-14", "2027-09-15", "2027-09-16", "2027-10-04", "2027-10-11", "2027-12-27"),
}

YEARS = tuple(sorted(LUNAR_AND_SUBSTITUTE))


def korean_holidays(years: tuple[int, ...] = YEARS) -> tuple[dt.date, ...]:
    """Sorted public holidays of the given years (each must be in ``YEARS``).

    Raises
    ------
    ValueError
        For a year without a lunar-holiday table.
    """
    out: set[dt.date] = set()
    for year in years:
        if year not in LUNAR_AND_SUBSTITUTE:
            raise ValueError(f"no Korean holiday table for {year}; known years: {YEARS}")
        out.update(dt.date(year, m, d) for m, d in FIXED)
        out.update(dt.date.fromisoformat(s) for s in LUNAR_AND_SUBSTITUTE[year])
    return tuple(sorted(out))
