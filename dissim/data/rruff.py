"""The RRUFF text format: ``##KEY=value`` header lines, then ``wavenumber, value`` rows.

A RRUFF download (rruff.info) is one text file per spectrum::

    ##NAMES=Pyrite
    ##RRUFFID=R050190
    ##LOCALITY=...
    5.014013e+001, 2.142048e-002
    5.206860e+001, 9.018179e-003
    ...
    ##END=

Rows may be separated by a comma, a semicolon, a tab or spaces; blank lines are ignored; the
wavenumbers may run up or down (they are returned increasing, repeated ones averaged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

_SEPARATORS = re.compile(r"[,;\s]+")


@dataclass(frozen=True)
class RruffSpectrum:
    """One spectrum of a RRUFF file: header fields, increasing wavenumbers and their values."""

    source: str
    headers: dict[str, str]
    wavenumbers: np.ndarray  # (n,) float64, strictly increasing
    values: np.ndarray  # (n,) float64

    @property
    def name(self) -> str | None:
        """The mineral name (``##NAMES=``), or None if the file has none."""
        return self.headers.get("NAMES") or None

    @property
    def rruff_id(self) -> str | None:
        return self.headers.get("RRUFFID") or None


def parse_rruff_text(text: str, source: str = "RRUFF text") -> RruffSpectrum:
    """Parse the content of one RRUFF text file; raises UserError naming ``source`` on bad content."""
    headers: dict[str, str] = {}
    rows: list[tuple[float, float]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.startswith("##"):
            key, _, value = line[2:].partition("=")
            if key.strip().upper() == "END":
                break
            headers[key.strip().upper()] = value.strip()
            continue
        parts = [p for p in _SEPARATORS.split(line) if p]
        try:
            x, y = float(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            raise UserError(f"{source}, line {number}: expected 'wavenumber, value', got {line[:60]!r}") from None
        rows.append((x, y))
    if len(rows) < 2:
        raise UserError(f"{source}: no spectrum rows ('wavenumber, value') found; is it a RRUFF text file?")
    data = np.asarray(rows, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        bad = int(np.flatnonzero(~np.isfinite(data).all(1))[0])
        raise UserError(f"{source}: row {bad + 1} of the spectrum is not a finite number (NaN or inf)")
    wavenumbers, inverse = np.unique(data[:, 0], return_inverse=True)  # sorts; merges repeated wavenumbers
    values = np.bincount(inverse, weights=data[:, 1]) / np.bincount(inverse)
    if len(wavenumbers) < 2:
        raise UserError(f"{source}: the spectrum has a single distinct wavenumber")
    return RruffSpectrum(source=source, headers=headers, wavenumbers=wavenumbers, values=values)


def read_rruff_file(path: str | Path) -> RruffSpectrum:
    """Read one RRUFF text file (any encoding; undecodable bytes in the headers are replaced)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read spectrum file {path}: {exc.strerror}") from None
    return parse_rruff_text(raw.decode("utf-8", errors="replace"), source=str(path))
