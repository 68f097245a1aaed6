"""sapm: least-squares training of small networks and PINNs (Python API).

    import numpy as np, sapm
    x = np.linspace(-3, 3, 200).reshape(-1, 1)
    reg = sapm.Regressor(method="varpro", train__max_iterations=200).fit(x, np.sin(x[:, 0] ** 2))
    reg.predict(x), reg.summary_["train_mse"], reg.diagnostics_["fragile"]

    sol = sapm.pinn.solve("steady1d", method="ls-adam-lbfgs", train__max_iterations=300)
    sol(np.array([[0.5]])), sol.rel_l2

Options are the TOML keys of `sapm train` with `__` for the dot; see
docs/python.md in the repository.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from . import pinn
from ._arrays import ConversionWarning
from ._sapm import Model, __version__
from ._sapm import builtin_data as _builtin_data
from ._sapm import methods as _methods
from .regressor import Regressor, load

__all__ = [
    "Regressor",
    "load",
    "pinn",
    "Model",
    "ConversionWarning",
    "builtin_data",
    "methods",
    "__version__",
]


def methods() -> List[str]:
    """Every training method name (`sapm`, `lm`, `varpro`, `ls-adam-lbfgs`, ...)."""
    return list(_methods())


def builtin_data(
    name: str = "sin_x2", n_train: int = 100, n_test: int = 1000, noise: float = 0.0, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A built-in target of `sapm train` (`data.builtin`), the same numbers
    for the same `n_train`, `n_test`, `noise` and `seed`:
    `(X_train, y_train, X_test, y_test)`, inputs `(n, d)`, targets `(n,)` for
    one output else `(n, m)`."""
    xt, yt, xs, ys = _builtin_data(name, n_train, n_test, noise, seed)
    if yt.shape[1] == 1:
        yt, ys = yt[:, 0], ys[:, 0]
    return xt, yt, xs, ys
