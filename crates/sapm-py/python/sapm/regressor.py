"""`sapm.Regressor`: a scikit-learn style estimator over the same fitting
pipeline as `sapm train` (without importing scikit-learn)."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _arrays, _options, _progress, _sapm

PathLike = Union[str, "os.PathLike[str]"]

_DEFAULTS: Dict[str, Any] = {
    "depth": 6,
    "width": 20,
    "activation": "tanh",
    "method": "sapm",
    "seed": 0,
    "verbose": False,
}


def _interrupted(exc: BaseException, what: str) -> BaseException:
    """`exc` with a note saying what was kept (printed to stderr before
    Python 3.11, which has no exception notes)."""
    note = f"sapm: {what}"
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:
        print(note, file=sys.stderr)
    return exc


class Regressor:
    """A fully connected network fitted by least squares.

    Parameters mirror a `sapm train` config: `depth` and `width` are
    `network.depth`/`network.width`, `activation` is `network.activation`,
    `method` and `seed` are the top-level keys. Every other TOML key is an
    option spelled with `__` for the dot: `train__max_iterations=300`,
    `sapm__tau=0.5`, `lm__lambda_init=1e-2`, `network__hidden=[20, 40]`,
    `threads=2`. Options are checked by the library when `fit` runs: an
    unknown key, a bad value or a key the method does not read raises
    ValueError with the library's message.

    `verbose=True` shows progress (tqdm if installed, else a line per second
    on stderr; `verbose="text"` forces the lines).

    Fitted attributes: `model_` (a `sapm.Model`), `history_` (dict of numpy
    arrays: `iteration`, `seconds`, `objective`, `aux_loss`, `train_mse`,
    `test_mse`), `summary_` (the `summary.json` of `sapm train` as a dict),
    `diagnostics_` (`summary_["diagnostics"]`: weight norms, `test_mse_f32`,
    `fragile`, ...), `n_features_in_`, `n_outputs_`, and `feature_names_in_`
    when `X` was a data frame with string column names.
    """

    _estimator_type = "regressor"

    def __init__(
        self,
        depth: int = 6,
        width: int = 20,
        activation: str = "tanh",
        method: str = "sapm",
        seed: int = 0,
        *,
        verbose: Union[bool, str] = False,
        **options: Any,
    ) -> None:
        self.depth = depth
        self.width = width
        self.activation = activation
        self.method = method
        self.seed = seed
        self.verbose = verbose
        self._options: Dict[str, Any] = dict(options)

    # -- scikit-learn estimator protocol ---------------------------------
    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor's parameters and options (`deep` changes nothing)."""
        params = {k: getattr(self, k) for k in _DEFAULTS}
        params.update(self._options)
        return params

    def set_params(self, **params: Any) -> "Regressor":
        """Set parameters; any other name is an option (checked by `fit`)."""
        for k, v in params.items():
            if k in _DEFAULTS:
                setattr(self, k, v)
            else:
                self._options[k] = v
        return self

    def __sklearn_tags__(self) -> Any:
        # Called by scikit-learn only, so importing it here costs nothing otherwise.
        from sklearn.utils import (  # type: ignore[import-untyped,unused-ignore]
            RegressorTags,
            Tags,
            TargetTags,
        )

        return Tags(
            estimator_type="regressor",
            target_tags=TargetTags(required=True, single_output=True, multi_output=True),
            transformer_tags=None,
            classifier_tags=None,
            regressor_tags=RegressorTags(),
        )

    def _more_tags(self) -> Dict[str, Any]:  # scikit-learn < 1.6
        return {"multioutput": True, "requires_y": True}

    def __repr__(self) -> str:
        changed = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if k not in _DEFAULTS or _DEFAULTS[k] != v
        ]
        return f"Regressor({', '.join(changed)})"

    # -- configuration -----------------------------------------------------
    def _overrides(self) -> List[Tuple[str, Any]]:
        params = {k: getattr(self, k) for k in _DEFAULTS}
        return _options.regression_options(params, self._options)

    def config_toml(self) -> str:
        """The checked config this estimator trains with, as TOML (only the
        keys in use, the `[data]` section aside: the data are `fit`'s)."""
        hide = [f"data.{k}" for k in _options.DATA_SOURCE_KEYS]
        try:
            return _sapm.resolve_config("", self._overrides(), None, hide)
        except ValueError as e:
            raise _options.explain(e, _options.NAMED) from None

    # -- fitting -----------------------------------------------------------
    def fit(self, X: Any, y: Any, eval_set: Optional[Tuple[Any, Any]] = None) -> "Regressor":
        """Train on `X` `(n, d)` and `y` `(n,)` or `(n, m)`; returns self.

        The history's and summary's `test_mse` (and the f32 check of
        `diagnostics_`) are measured on `eval_set=(X_test, y_test)` when it
        is given, else on the training set itself (then `test_mse` equals
        `train_mse`). Ctrl-C stops after the current iteration: the fitted
        attributes hold the model reached (`summary_["status"] ==
        "interrupted"`) and KeyboardInterrupt is raised.
        """
        names = _arrays.feature_names(X)
        x = _arrays.inputs(X, "X")
        yy, one_d = _arrays.targets(y, x.shape[0], "y")
        xt = yt = None
        if eval_set is not None:
            try:
                xs, ys = eval_set
            except (TypeError, ValueError):
                raise TypeError("eval_set must be a pair (X_test, y_test)") from None
            xt = _arrays.inputs(xs, "eval_set X", features=x.shape[1])
            yt, _ = _arrays.targets(ys, xt.shape[0], "eval_set y")
            if yt.shape[1] != yy.shape[1]:
                raise ValueError(
                    f"eval_set y has {yt.shape[1]} outputs, y has {yy.shape[1]}"
                )
        inputs = names if names is not None else [f"x{i}" for i in range(x.shape[1])]
        outputs = ["y"] if one_d else [f"y{i}" for i in range(yy.shape[1])]
        progress = _progress.make(self.verbose, str(self.method))
        try:
            res = _sapm.fit_regression(
                self._overrides(), x, yy, xt, yt, inputs, outputs, progress
            )
        except ValueError as e:
            raise _options.explain(e, _options.NAMED) from None
        finally:
            if progress is not None:
                progress.close()
        summary = json.loads(res["summary"])
        self._set_fitted(res["model"], summary, res["history"], one_d)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if res["interrupt"] is not None:
            it = summary.get("iterations")
            raise _interrupted(
                res["interrupt"],
                f"fit interrupted after {it} iterations; the model reached is kept "
                f"(summary_['status'] == 'interrupted')",
            )
        return self

    def _set_fitted(self, model: Any, summary: Optional[Dict[str, Any]], history: Any, one_d: bool) -> None:
        self.model_ = model
        self.summary_ = summary
        self.diagnostics_ = None if summary is None else summary.get("diagnostics")
        self.history_ = history
        widths = model.widths
        self.n_features_in_ = widths[0]
        self.n_outputs_ = widths[-1]
        self._one_d = one_d

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise _not_fitted(self)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions `(n,)` when fitted on 1-D `y`, else `(n, m)`."""
        self._check_fitted()
        x = _arrays.inputs(X, "X", features=self.n_features_in_)
        u = self.model_.predict(x)
        return u[:, 0] if self._one_d else u

    def score(self, X: Any, y: Any) -> float:
        """The coefficient of determination R^2 (averaged over outputs), as
        scikit-learn's `r2_score` computes it."""
        x = _arrays.inputs(X, "X")
        yy, _ = _arrays.targets(y, x.shape[0], "y")
        u = self.predict(x).reshape(yy.shape)
        ss_res = ((yy - u) ** 2).sum(axis=0)
        ss_tot = ((yy - yy.mean(axis=0)) ** 2).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
        return float(r2.mean())

    # -- files -------------------------------------------------------------
    def save(self, path: PathLike) -> Path:
        """Write the model as `model.json` (the format of `sapm train`, read
        by `sapm predict` and `sapm.load`); a folder gets `folder/model.json`.
        Returns the file written."""
        self._check_fitted()
        p = Path(path)
        if p.is_dir():
            p = p / "model.json"
        self.model_.save(str(p))
        return p


def _not_fitted(est: Any) -> Exception:
    try:  # scikit-learn's own exception when it is installed, as its tools expect
        from sklearn.exceptions import (  # type: ignore[import-untyped,unused-ignore]
            NotFittedError,
        )
    except ImportError:
        NotFittedError = None  # noqa: N806
    msg = f"this {type(est).__name__} is not fitted yet: call fit(X, y) first"
    if NotFittedError is not None:
        return NotFittedError(msg)
    return AttributeError(msg)


def _read_history(path: Path) -> Optional[Dict[str, np.ndarray]]:
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return None
    head, body = rows[0], rows[1:]
    out: Dict[str, np.ndarray] = {}
    for i, name in enumerate(head):
        col = [float(r[i]) if r[i] != "" else float("nan") for r in body]
        out[name] = np.asarray(col, dtype=np.int64 if name == "iteration" else np.float64)
    return out


def load(path: PathLike) -> Regressor:
    """A fitted Regressor from a `model.json` (written by `Regressor.save` or
    `sapm train`) or a run folder holding one. A `summary.json` and
    `history.csv` beside it (a `sapm train` folder) fill `summary_`,
    `diagnostics_` and `history_`; the parameters are read from the model
    (and from the summary's config when there is one). A model with one
    output predicts 1-D arrays."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.json"
    model = _sapm.Model.load(str(p))
    summary_path = p.parent / "summary.json"
    summary = None
    if summary_path.is_file():
        with open(summary_path) as f:
            summary = json.load(f)
    widths = model.widths
    hidden = widths[1:-1]
    params: Dict[str, Any] = {"depth": len(widths) - 1, "activation": model.activation}
    if hidden and all(w == hidden[0] for w in hidden):
        params["width"] = hidden[0]
    elif hidden:
        params["network__hidden"] = list(hidden)
    config = (summary or {}).get("config") or {}
    for key in ("method", "seed"):
        if key in config:
            params[key] = config[key]
    est = Regressor(**params)
    history = _read_history(p.parent / "history.csv") if summary is not None else None
    est._set_fitted(model, summary, history, len(model.output_names) == 1)
    names = model.input_names
    if names != [f"x{i}" for i in range(len(names))]:
        est.feature_names_in_ = np.asarray(names, dtype=object)
    return est
