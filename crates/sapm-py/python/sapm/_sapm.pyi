"""Type stubs of the native module `sapm._sapm` (pyo3)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Options = Sequence[Tuple[str, Any]]
_Progress = Callable[[int, int, int, float, str], None]
_Path = Union[str, "PathLike[str]"]

class Model:
    """A fitted network with the names of its input and output columns
    (the `model.json` of `sapm train`)."""

    @staticmethod
    def from_json(text: str) -> Model: ...
    @staticmethod
    def load(path: _Path) -> Model: ...
    def save(self, path: _Path) -> None: ...
    def to_json(self) -> str: ...
    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def layers(self) -> List[Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]: ...
    @property
    def input_names(self) -> List[str]: ...
    @property
    def output_names(self) -> List[str]: ...
    @property
    def widths(self) -> List[int]: ...
    @property
    def activation(self) -> str: ...

class Solution:
    def __call__(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def exact(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    @property
    def model(self) -> Model: ...
    @property
    def problem(self) -> str: ...
    @property
    def variables(self) -> List[str]: ...
    @property
    def bounds(self) -> Tuple[List[float], List[float]]: ...
    @property
    def has_exact(self) -> bool: ...
    @property
    def windows(self) -> int: ...

def resolve_config(
    text: str, options: _Options, path: Optional[_Path] = None, hide: Sequence[str] = ()
) -> str: ...
def fit_regression(
    options: _Options,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    x_test: Optional[npt.NDArray[np.float64]],
    y_test: Optional[npt.NDArray[np.float64]],
    input_names: List[str],
    output_names: List[str],
    progress: Optional[_Progress] = None,
) -> Dict[str, Any]: ...
def fit_pde(
    text: str,
    options: _Options,
    path: Optional[_Path] = None,
    progress: Optional[_Progress] = None,
) -> Dict[str, Any]: ...
def pde_problems() -> List[str]: ...
def methods() -> List[str]: ...
def builtin_data(
    name: str, n_train: int = 100, n_test: int = 1000, noise: float = 0.0, seed: int = 0
) -> Tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
