"""Integrity of stored objects: a stage that reads an object whose checksum was recorded
when it was written verifies it before use, so a flipped byte in storage (bit rot, a bad
copy, a hand edit) is caught and the call quarantined as ``checksum_mismatch`` instead of
flowing on as silently wrong data.

Pure functions; the flows decide what to quarantine.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

#: the machine-readable quarantine reason for an object that no longer matches its checksum
CHECKSUM_MISMATCH = "checksum_mismatch"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class ChecksumMismatchError(ValueError):
    """An object's bytes do not hash to the checksum recorded when it was written."""

    reason = CHECKSUM_MISMATCH

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.what, self.expected, self.actual = what, expected, actual
        super().__init__(f"{what}: sha256 {actual[:16]}… does not match the recorded {expected[:16]}… "
                         "(the stored object changed after it was written; kept as-is for inspection)")


def sha256_of(data: bytes | bytearray | memoryview | str | os.PathLike[str]) -> str:
    """Hex sha256 of bytes, or of a file's content (read in 1 MiB blocks) given its path."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return hashlib.sha256(data).hexdigest()
    h = hashlib.sha256()
    with open(Path(data), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(data: bytes | bytearray | memoryview | str | os.PathLike[str], expected: str, what: str) -> str:
    """Return the sha256 of ``data`` (bytes or a file path) when it equals ``expected``;
    raise :class:`ChecksumMismatchError` (``.reason == "checksum_mismatch"``) when it does
    not. ``expected`` must be a 64-digit hex sha256 (any case), else ``ValueError``:
    a missing checksum is a caller bug, not a pass. ``what`` names the object in the
    message (a key or URI, never content)."""
    exp = expected.strip().lower() if isinstance(expected, str) else ""
    if not _SHA256_RE.fullmatch(exp):
        raise ValueError(f"{what}: no valid recorded sha256 to verify against (got {expected!r})")
    actual = sha256_of(data)
    if actual != exp:
        raise ChecksumMismatchError(what, exp, actual)
    return actual
