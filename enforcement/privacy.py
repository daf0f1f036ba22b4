"""Privacy: plates never leave the case store in clear.

* :func:`pseudonymise` — keyed hash (HMAC-SHA256) of a plate for dead letters,
  aggregate counts and logs: stable for one key (so the same plate can be
  counted), useless without the key (a plain hash of a plate is reversed by
  trying every plate, there are only ~10⁸).
* :func:`mask_plate` — what a controller sees ("12가**56").
* Reads that produce no case are kept only as counts per camera per hour
  (see :mod:`enforcement.store`), purged after the retention period.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_TAIL_RE = re.compile(r"^(.*[가-힣])(\d{4})$")


def pseudonymise(plate: str, key: bytes) -> str:
    """First 32 hex digits of HMAC-SHA256(key, plate)."""
    return hmac.new(key, plate.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def mask_plate(plate: str) -> str:
    """Hide the middle two of the last four digits: ``12가3456`` → ``12가**56``.

    Text that is not a Korean plate keeps only its first and last two
    characters.
    """
    match = _TAIL_RE.match(plate)
    if match:
        head, digits = match.groups()
        return f"{head}**{digits[2:]}"
    if len(plate) <= 4:
        return "*" * len(plate)
    return plate[:2] + "*" * (len(plate) - 4) + plate[-2:]
