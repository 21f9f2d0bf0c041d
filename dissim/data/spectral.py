"""Preprocessing of 1-D spectra: resampling onto a grid, ALS baseline correction, min-max scaling.

- :func:`resample` puts one spectrum measured at its own wavenumbers onto a common grid (linear
  interpolation, ``np.interp``); a spectrum must cover the grid (up to ``tolerance`` at each end,
  where its edge value is held) or it is refused: extrapolating a spectrum invents data.
- :func:`als_baseline` is Eilers & Boelens' asymmetric least squares (2005), through
  ``pybaselines`` (a maintained implementation), one spectrum at a time.
- :class:`SpectralPreprocessing` is the recipe a model was trained with (ALS or not, then min-max
  scaling to [0, 1] per spectrum); a reference library stores it so that every spectrum added or
  queried later goes through exactly the same steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import UserError

# Eilers & Boelens' parameters for our grids (a few hundred to ~2000 points): a stiff baseline
# (lam) lying under the absorption bands (small p). See dissim/data/embedded/README.md.
DEFAULT_ALS_LAM = 1e6
DEFAULT_ALS_P = 0.01


def covers(wavenumbers: np.ndarray, grid: np.ndarray, tolerance: float) -> bool:
    """Whether a spectrum measured at ``wavenumbers`` spans ``grid`` (within ``tolerance`` at each end)."""
    return bool(wavenumbers[0] <= grid[0] + tolerance and wavenumbers[-1] >= grid[-1] - tolerance)


def resample(wavenumbers: np.ndarray, values: np.ndarray, grid: np.ndarray, tolerance: float = 0.0,
             where: str = "spectrum") -> np.ndarray:
    """``values`` (measured at increasing ``wavenumbers``) linearly interpolated at ``grid``.

    Raises UserError if the spectrum does not span the grid (beyond ``tolerance`` at each end).
    """
    wavenumbers = np.asarray(wavenumbers, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if wavenumbers.ndim != 1 or wavenumbers.shape != values.shape:
        raise UserError(f"{where}: wavenumbers and values must be 1-D and of one length, "
                        f"got {wavenumbers.shape} and {values.shape}")
    if not (np.all(np.isfinite(wavenumbers)) and np.all(np.isfinite(values))):
        raise UserError(f"{where}: contains NaN or infinite values; clean or drop it")
    if len(wavenumbers) > 1 and np.any(np.diff(wavenumbers) <= 0):
        order = np.argsort(wavenumbers, kind="stable")
        wavenumbers, values = wavenumbers[order], values[order]
    if not covers(wavenumbers, grid, tolerance):
        raise UserError(f"{where}: measured from {wavenumbers[0]:g} to {wavenumbers[-1]:g}, which does not cover "
                        f"the grid {grid[0]:g}-{grid[-1]:g}; give a spectrum that spans it")
    return np.interp(grid, wavenumbers, values)


def als_baseline(spectra: np.ndarray, lam: float = DEFAULT_ALS_LAM, p: float = DEFAULT_ALS_P) -> np.ndarray:
    """The asymmetric-least-squares baseline of each row of ``spectra`` (N, L), same shape."""
    from pybaselines import Baseline

    spectra = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
    fitter = Baseline(x_data=np.arange(spectra.shape[1], dtype=np.float64))
    return np.stack([fitter.asls(row, lam=lam, p=p)[0] for row in spectra]) if len(spectra) else spectra.copy()


def minmax_scale(spectra: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1] (a flat row becomes zeros)."""
    spectra = np.asarray(spectra, dtype=np.float64)
    low = spectra.min(axis=1, keepdims=True)
    span = spectra.max(axis=1, keepdims=True) - low
    return (spectra - low) / np.where(span > 0, span, 1.0)


@dataclass(frozen=True)
class SpectralPreprocessing:
    """ALS baseline subtraction (optional), then min-max scaling of each spectrum to [0, 1]."""

    als: bool = False
    als_lam: float = DEFAULT_ALS_LAM
    als_p: float = DEFAULT_ALS_P

    def __post_init__(self):
        if not self.als_lam > 0:
            raise UserError(f"ALS lam must be positive, got {self.als_lam}")
        if not 0 < self.als_p < 1:
            raise UserError(f"ALS p must lie between 0 and 1, got {self.als_p}")

    def __call__(self, spectra: np.ndarray) -> np.ndarray:
        """(N, L) spectra → preprocessed float32 (N, L)."""
        spectra = np.asarray(spectra, dtype=np.float64)
        if self.als:
            spectra = spectra - als_baseline(spectra, self.als_lam, self.als_p)
        return minmax_scale(spectra).astype(np.float32)

    @property
    def suffix(self) -> str:
        """'-als' for baseline-corrected input (the method names' suffix), else ''."""
        return "-als" if self.als else ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "SpectralPreprocessing":
        return cls(**{k: values[k] for k in ("als", "als_lam", "als_p") if k in values})
