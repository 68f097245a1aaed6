"""Checks and conversions of user arrays before they reach the engine.

Everything here is about messages: the engine computes in float64 on finite
numbers, and a user who passes something else should learn what and where.
"""

from __future__ import annotations

import warnings
from typing import Any, List, Optional, Tuple

import numpy as np


class ConversionWarning(UserWarning):
    """Input data were converted (e.g. float32 to float64) before fitting."""


_KINDS = {
    "c": "complex numbers",
    "U": "strings",
    "S": "bytes",
    "O": "Python objects",
    "M": "datetimes",
    "m": "timedeltas",
    "V": "structured records",
}


def _as_float64(a: Any, name: str) -> np.ndarray:
    if isinstance(a, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {type(a).__name__}")
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"{name} cannot be read as an array: {e}") from None
    kind = arr.dtype.kind
    if kind in _KINDS:
        raise TypeError(
            f"{name} holds {_KINDS[kind]} (dtype {arr.dtype}); sapm needs real numbers "
            f"(float64)"
        )
    if kind == "f" and arr.dtype.itemsize != 8:
        warnings.warn(
            f"{name} has dtype {arr.dtype}; converted to float64 (sapm computes in float64)",
            ConversionWarning,
            stacklevel=4,
        )
    if arr.dtype != np.float64:  # ints, bools, float32, non-native byte order
        arr = arr.astype(np.float64)
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    finite = np.isfinite(arr)
    if finite.all():
        return
    bad = np.argwhere(~finite)
    where = tuple(int(i) for i in bad[0])
    value = arr[where]
    what = "NaN" if np.isnan(value) else f"{value}"
    at = f"row {where[0]}" + (f", column {where[1]}" if len(where) > 1 else "")
    raise ValueError(
        f"{name} contains {what} at {at} ({len(bad)} non-finite value"
        f"{'s' if len(bad) > 1 else ''} in all); sapm needs finite numbers"
    )


def _shape_error(name: str, arr: np.ndarray, want: str) -> ValueError:
    hint = ""
    if arr.ndim == 1 and name.startswith("X"):
        hint = f"; for one feature use {name}.reshape(-1, 1)"
    return ValueError(f"{name} must be {want}, got shape {arr.shape}{hint}")


def inputs(a: Any, name: str = "X", features: Optional[int] = None) -> np.ndarray:
    """`(n, d)` float64 inputs, finite, non-empty (not copied when already so)."""
    arr = _as_float64(a, name)
    if arr.ndim != 2:
        raise _shape_error(name, arr, "2-D (n_samples, n_features)")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {arr.shape})")
    if features is not None and arr.shape[1] != features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features (columns), the model takes {features}"
        )
    _check_finite(arr, name)
    return arr


def targets(a: Any, n: int, name: str = "y") -> Tuple[np.ndarray, bool]:
    """`(n, m)` float64 targets and whether they were given 1-D."""
    arr = _as_float64(a, name)
    one_d = arr.ndim == 1
    if one_d:
        arr = arr.reshape(-1, 1)
    elif arr.ndim != 2:
        raise _shape_error(name, arr, "1-D (n_samples,) or 2-D (n_samples, n_outputs)")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no outputs (shape {arr.shape})")
    if arr.shape[0] != n:
        raise ValueError(f"X has {n} samples but {name} has {arr.shape[0]}")
    _check_finite(arr, name)
    return arr, one_d


def feature_names(a: Any) -> Optional[List[str]]:
    """Column names of a data frame whose columns are all strings, else None."""
    cols = getattr(a, "columns", None)
    if cols is None:
        return None
    names = list(cols)
    if names and all(isinstance(c, str) for c in names):
        return names
    return None
