"""PINNs: `sapm.pinn.solve` trains a network on a PDE of the `[pde]`
section of a config, through the same pipeline as `sapm train`.

    sol = sapm.pinn.solve("steady1d", method="ls-adam-lbfgs",
                          network__depth=3, network__width=10,
                          pde__n_interior=64, train__max_iterations=300)
    u = sol(points)            # points (n, d) in the problem's coordinates
    sol.summary["rel_l2"]      # relative L2 error on the test grid
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import _arrays, _options, _progress, _sapm
from .regressor import _interrupted

__all__ = ["solve", "Solution", "problems"]


def problems() -> List[str]:
    """The built-in problem names (`transport1d`, `steady1d`, `poisson2d`, ...)."""
    return list(_sapm.pde_problems())


class Solution:
    """A trained PINN: `sol(points)` gives `u` at `points` `(n, d)` (or
    `(n,)` for a 1-D problem) as an `(n,)` array; `sol.exact(points)` the
    exact solution when the problem has one. `history` (dict of arrays),
    `summary` (the `summary.json` of `sapm train`), `diagnostics`, `model`
    (the network; its inputs are the embedded coordinates; the last window's
    for a time-marching run, whose points each go to their window's network)."""

    def __init__(self, native: Any, summary: Dict[str, Any], history: Dict[str, np.ndarray]):
        self._native = native
        self.summary = summary
        self.history = history

    @property
    def diagnostics(self) -> Dict[str, Any]:
        return self.summary.get("diagnostics", {})

    @property
    def model(self) -> Any:
        return self._native.model

    @property
    def windows(self) -> int:
        """Time windows of a time-marching run (1 otherwise)."""
        return int(self._native.windows)

    @property
    def problem(self) -> str:
        return self._native.problem

    @property
    def variables(self) -> List[str]:
        return list(self._native.variables)

    @property
    def bounds(self) -> Tuple[List[float], List[float]]:
        return self._native.bounds

    @property
    def rel_l2(self) -> Optional[float]:
        """Relative L2 error on the test grid (None without an exact solution)."""
        return self.summary.get("rel_l2")

    @property
    def status(self) -> str:
        return self.summary.get("status", "")

    def _points(self, points: Any) -> np.ndarray:
        d = len(self._native.variables)
        arr = np.asarray(points) if not isinstance(points, np.ndarray) else points
        if d == 1 and getattr(arr, "ndim", 0) == 1:
            arr = arr.reshape(-1, 1)
        return _arrays.inputs(arr, "points")  # the coordinate count is checked natively

    def __call__(self, points: Any) -> np.ndarray:
        return self._native(self._points(points))

    def exact(self, points: Any) -> np.ndarray:
        """The exact solution at `points` (ValueError if the problem has none)."""
        return self._native.exact(self._points(points))

    def grid(self, n: int = 101) -> np.ndarray:
        """An `(n^d, d)` grid over the problem's box, for plots and checks."""
        lo, hi = self._native.bounds
        axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> Path:
        """Write the network as `model.json` (a folder gets `folder/model.json`)."""
        p = Path(path)
        if p.is_dir():
            p = p / "model.json"
        self.model.save(str(p))
        return p

    def __repr__(self) -> str:
        r = self.rel_l2
        err = f", rel_l2={r:.3e}" if isinstance(r, float) else ""
        return f"Solution(problem={self.problem!r}, status={self.status!r}{err})"


def _source(spec: Any) -> Tuple[str, Optional[str], List[Tuple[str, Any]]]:
    """(TOML text, config file path, dotted options) of a problem spec."""
    if isinstance(spec, Mapping):
        return "", None, _options.flatten(spec)
    if isinstance(spec, os.PathLike):
        return "", os.fspath(spec), []
    if not isinstance(spec, str):
        raise TypeError(
            "solve() takes a built-in problem name, TOML text, a .toml path or a dict, "
            f"got {type(spec).__name__}"
        )
    if spec in _sapm.pde_problems():
        return "", None, [("pde.problem", spec)]
    if "\n" in spec or "=" in spec or spec.lstrip().startswith("["):
        return spec, None, []
    if spec.endswith(".toml"):
        return "", spec, []
    raise ValueError(
        f"unknown problem {spec!r}; built-in problems: {', '.join(problems())} "
        "(or pass TOML text, a .toml path or a dict config)"
    )


def solve(
    problem: Any,
    method: Optional[str] = None,
    *,
    seed: Optional[int] = None,
    verbose: Union[bool, str] = False,
    **options: Any,
) -> Solution:
    """Train a PINN and return its `Solution`.

    `problem` is a built-in problem name (see `problems()`), a config as
    TOML text, a path to a `.toml` file, or a dict shaped like the TOML
    (`{"pde": {"problem": "poisson2d"}, "method": "lm"}`). `method` and
    `seed` override the config's; other options use the TOML keys with
    `__` for the dot (`pde__n_interior=500`, `train__max_iterations=300`,
    `network__depth=4`, `pde__beta=30`). The library checks everything: an
    unknown or unused key raises ValueError with its message.

    Ctrl-C stops after the current iteration and raises KeyboardInterrupt;
    the solution reached is attached to the exception as `.solution`.
    """
    text, path, opts = _source(problem)
    if method is not None:
        opts.append(("method", method))
    if seed is not None:
        opts.append(("seed", seed))
    opts.extend(_options.keyword_options(options))
    label = "pinn" if method is None else str(method)
    progress = _progress.make(verbose, label)
    try:
        res = _sapm.fit_pde(text, opts, path, progress)
    except ValueError as e:
        raise _options.explain(e) from None
    finally:
        if progress is not None:
            progress.close()
    sol = Solution(res["solution"], json.loads(res["summary"]), res["history"])
    exc = res["interrupt"]
    if exc is not None:
        exc.solution = sol
        raise _interrupted(
            exc,
            f"solve interrupted after {sol.summary.get('iterations')} iterations; "
            "the solution reached is attached as .solution",
        )
    return sol
