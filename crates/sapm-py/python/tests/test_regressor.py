"""Regressor: the same numbers as `sapm train`, the estimator protocol,
fitted attributes, files."""

import json
import pickle
import subprocess
import threading

import numpy as np
import pytest

import sapm


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.mark.parametrize(
    "method,sets",
    [
        ("sapm", {"train.max_iterations": 30}),
        ("varpro", {"train.max_iterations": 40, "network.depth": 4, "network.width": 12}),
        ("ls-adam-lbfgs", {"train.max_iterations": 60, "adam_lbfgs.adam_steps": 30}),
    ],
)
def test_fit_matches_the_cli_on_sin_x2(tmp_path, sapm_bin, method, sets):
    seed = 3
    out = tmp_path / "run"
    args = [str(sapm_bin), "train", "--out", str(out), "--quiet", "--set", f"method={method}"]
    args += ["--set", f"seed={seed}"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    subprocess.run(args, check=True, capture_output=True, timeout=300)
    cli = json.loads((out / "summary.json").read_text())

    X, y, Xt, yt = sapm.builtin_data("sin_x2", 100, 1000, 0.0, seed)
    opts = {k.replace(".", "__"): v for k, v in sets.items()}
    depth = opts.pop("network__depth", 6)
    width = opts.pop("network__width", 20)
    # The built-in problems of `sapm train` are unscaled; arrays are scaled by default.
    reg = sapm.Regressor(depth, width, method=method, seed=seed, data__scale="none", **opts)
    reg.fit(X, y, eval_set=(Xt, yt))
    s = reg.summary_

    assert s["status"] == cli["status"] and s["iterations"] == cli["iterations"]
    for key in ("train_mse", "test_mse"):
        assert rel(s[key], cli[key]) <= 1e-12, (key, s[key], cli[key])
    for key in ("output_weight_norm_sq", "test_mse_f32", "weight_norms_sq"):
        assert rel(s["diagnostics"][key], cli["diagnostics"][key]) <= 1e-12, key
    hist = np.genfromtxt(out / "history.csv", delimiter=",", names=True)
    assert rel(reg.history_["train_mse"], hist["train_mse"]) <= 1e-12
    assert rel(reg.history_["test_mse"], hist["test_mse"]) <= 1e-12
    # The same weights, and the CLI's model predicts what the estimator predicts.
    cli_layers = json.loads((out / "model.json").read_text())["layers"]
    for (w, b), layer in zip(reg.model_.layers(), cli_layers):
        assert rel(w, layer["weight"]) <= 1e-12 and rel(b, layer["bias"]) <= 1e-12
    back = sapm.load(out)
    assert rel(back.predict(Xt), reg.predict(Xt)) <= 1e-12
    assert back.summary_["test_mse"] == cli["test_mse"]
    assert back.history_["train_mse"].shape == hist["train_mse"].shape


def test_default_scaling_matches_the_cli_on_a_data_file(tmp_path, sapm_bin):
    """Arrays are standardised like a `data.train` file: the same numbers as the CLI."""
    X, y, Xt, yt = sapm.builtin_data("sin_x2", 100, 300, 0.0, 1)
    X, Xt = 500.0 * (X + 3.0), 500.0 * (Xt + 3.0)  # inputs in [0, 3000]
    for name, a, b in (("train", X, y), ("test", Xt, yt)):
        rows = [f"{float(u)!r},{float(v)!r}" for u, v in zip(a[:, 0], b)]
        (tmp_path / f"{name}.csv").write_text("x,y\n" + "\n".join(rows) + "\n")
    out = tmp_path / "run"
    sets = ["method=lm", "seed=1", "train.max_iterations=150", "network.depth=3",
            "network.width=10", f"data.train={tmp_path / 'train.csv'}",
            f"data.test={tmp_path / 'test.csv'}"]
    args = [str(sapm_bin), "train", "--out", str(out), "--quiet"]
    for s in sets:
        args += ["--set", s]
    subprocess.run(args, check=True, capture_output=True, timeout=300)
    cli = json.loads((out / "summary.json").read_text())
    reg = sapm.Regressor(3, 10, method="lm", seed=1, train__max_iterations=150)
    reg.fit(X, y, eval_set=(Xt, yt))
    assert rel(reg.summary_["test_mse"], cli["test_mse"]) <= 1e-12
    assert rel(reg.summary_["train_mse"], cli["train_mse"]) <= 1e-12
    assert cli["test_mse"] < 1e-3, cli["test_mse"]
    assert rel(sapm.load(out).predict(Xt), reg.predict(Xt)) <= 1e-12


def sin_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    return X, np.sin(X[:, 0] ** 2)


def test_fit_predict_score_and_fitted_attributes():
    X, y = sin_data()
    reg = sapm.Regressor(depth=4, width=12, method="varpro", train__max_iterations=60)
    assert reg.fit(X, y) is reg
    u = reg.predict(X)
    assert u.shape == (200,) and u.dtype == np.float64
    assert reg.score(X, y) > 0.999
    s = reg.summary_
    assert s["method"] == "varpro" and s["n_train"] == 200 and s["failed"] is False
    # Without eval_set the test set is the training set.
    assert s["test_mse"] == s["train_mse"]
    assert s["train_mse"] == pytest.approx(np.mean((u - y) ** 2), rel=1e-9)
    d = reg.diagnostics_
    assert len(d["weight_norms_sq"]) == 4 and isinstance(d["fragile"], bool)
    h = reg.history_
    assert set(h) == {"iteration", "seconds", "objective", "aux_loss", "train_mse", "test_mse"}
    assert h["iteration"][0] == 0 and h["iteration"][-1] == 60
    assert np.all(np.isnan(h["aux_loss"]))  # no auxiliaries for varpro
    assert reg.n_features_in_ == 1 and reg.n_outputs_ == 1


def test_multi_output_and_eval_set():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(150, 2))
    Y = np.stack([np.sin(2 * X[:, 0]) * X[:, 1], np.cos(X[:, 0] + X[:, 1])], axis=1)
    Xt = rng.uniform(-1, 1, size=(50, 2))
    Yt = np.stack([np.sin(2 * Xt[:, 0]) * Xt[:, 1], np.cos(Xt[:, 0] + Xt[:, 1])], axis=1)
    reg = sapm.Regressor(3, 10, method="lm", train__max_iterations=40).fit(X, Y, eval_set=(Xt, Yt))
    U = reg.predict(Xt)
    assert U.shape == (50, 2)
    assert reg.summary_["test_mse"] == pytest.approx(np.mean((U - Yt) ** 2), rel=1e-9)
    assert reg.summary_["test_mse"] != reg.summary_["train_mse"]
    assert reg.score(Xt, Yt) > 0.99
    # 2-D targets with one column stay 2-D.
    reg1 = sapm.Regressor(2, 5, method="elm").fit(X, Y[:, :1])
    assert reg1.predict(X).shape == (150, 1)


def test_layouts_give_the_same_predictions():
    X, y = sin_data(300)
    reg = sapm.Regressor(3, 8, method="elm").fit(X, y)
    X2 = np.random.default_rng(2).normal(size=(300, 2))
    base = reg.predict(X)
    f_order = np.asfortranarray(X)
    strided = np.concatenate([X, X2], axis=1)[:, :1]  # not contiguous
    reversed_ = X[::-1][::-1]
    buf = bytearray(8 * X.size + 1)
    unaligned = np.frombuffer(buf, dtype=np.float64, offset=1, count=X.size).reshape(X.shape)
    unaligned[:] = X
    for v in (f_order, strided, reversed_, X.tolist(), unaligned):
        np.testing.assert_array_equal(reg.predict(v), base)
    assert not strided.flags.c_contiguous and not unaligned.flags.aligned
    np.testing.assert_array_equal(reg.predict(X[::-1]), base[::-1])  # negative strides
    np.testing.assert_array_equal(reg.predict(np.broadcast_to(X[:1], (5, 1))), base[:1].repeat(5))
    # Fitting on a strided copy gives the same model bit for bit.
    reg2 = sapm.Regressor(3, 8, method="elm").fit(strided, y)
    np.testing.assert_array_equal(reg2.predict(X), base)


def test_float32_is_converted_with_a_warning():
    X, y = sin_data(100)
    with pytest.warns(sapm.ConversionWarning, match="float32"):
        reg = sapm.Regressor(2, 6, method="elm").fit(X.astype(np.float32), y)
    with pytest.warns(sapm.ConversionWarning, match="X has dtype float32"):
        assert reg.predict(X.astype(np.float32)).dtype == np.float64


def test_params_round_trip_and_set_params():
    reg = sapm.Regressor(width=7, method="lm", train__max_iterations=5, threads=1)
    p = reg.get_params()
    assert p["width"] == 7 and p["train__max_iterations"] == 5 and p["threads"] == 1
    again = sapm.Regressor(**p)
    assert again.get_params() == p
    assert reg.set_params(width=9, lm__lambda_init=0.1) is reg
    assert reg.width == 9 and reg.get_params()["lm__lambda_init"] == 0.1
    assert "lambda_init = 0.1" in reg.config_toml()
    assert repr(sapm.Regressor(width=7)) == "Regressor(width=7)"


def test_save_load_round_trip(tmp_path):
    X, y = sin_data(120)
    reg = sapm.Regressor(3, [9][0], activation="sin", method="lm", train__max_iterations=10).fit(X, y)
    path = reg.save(tmp_path / "m.json")
    back = sapm.load(path)
    np.testing.assert_array_equal(back.predict(X), reg.predict(X))
    assert back.get_params()["width"] == 9 and back.activation == "sin" and back.depth == 3
    assert back.summary_ is None  # no summary.json next to a bare model file
    # A folder gets model.json, and the file is the CLI's format.
    d = tmp_path / "dir"
    d.mkdir()
    assert reg.save(d) == d / "model.json"
    assert json.loads((d / "model.json").read_text())["format"] == "sapm-model"
    # Pickle keeps the fitted model.
    clone = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(clone.predict(X), reg.predict(X))
    # Unequal hidden widths come back as network__hidden.
    reg3 = sapm.Regressor(method="elm", network__hidden=[4, 6]).fit(X, y)
    back3 = sapm.load(reg3.save(tmp_path / "h.json"))
    assert back3.get_params()["network__hidden"] == [4, 6]
    with pytest.raises(FileNotFoundError, match="missing.json"):
        sapm.load(tmp_path / "missing.json")


def test_model_layers_reproduce_predictions():
    X, y = sin_data(50)
    reg = sapm.Regressor(3, 5, method="elm", data__scale="none").fit(X, y)
    layers = reg.model_.layers()
    h = X
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i + 1 < len(layers):
            h = np.tanh(h)
    np.testing.assert_allclose(h[:, 0], reg.predict(X), rtol=1e-12, atol=1e-14)
    assert reg.model_.scaling() is None
    # Scaled by default: the layers work on standardised data.
    reg = sapm.Regressor(3, 5, method="elm").fit(1000.0 * X, y)
    sc = reg.model_.scaling()
    assert sc["kind"] == "standard"
    np.testing.assert_allclose(sc["input_shift"], [np.mean(1000.0 * X)], rtol=1e-12)
    h = (1000.0 * X - sc["input_shift"]) / sc["input_scale"]
    for i, (w, b) in enumerate(reg.model_.layers()):
        h = h @ w.T + b
        if i + 1 < len(reg.model_.layers()):
            h = np.tanh(h)
    u = h[:, 0] * sc["output_scale"][0] + sc["output_shift"][0]
    np.testing.assert_allclose(u, reg.predict(1000.0 * X), rtol=1e-12, atol=1e-14)


def test_fit_releases_the_gil():
    X, y = sin_data(2000)
    reg = sapm.Regressor(method="ls-adam", train__max_iterations=400)
    done = threading.Event()
    counts = [0]

    def count():
        while not done.is_set():
            counts[0] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        reg.fit(X, y)
    finally:
        done.set()
        t.join()
    # A fit holding the GIL would leave the counter all but stopped (it would
    # run only while the waiting thread holds the GIL, a few microseconds
    # every 50 ms); 400 iterations on 2000 points take about a second.
    assert counts[0] > 10000, counts[0]


def test_verbose_text_progress(capsys):
    X, y = sin_data(500)
    sapm.Regressor(method="ls-adam", train__max_iterations=300, verbose="text").fit(X, y)
    err = capsys.readouterr().err
    assert "ls-adam: 300/300 obj" in err and "train_mse" in err


def test_unknown_and_unused_options_name_the_option():
    X, y = sin_data(50)
    cases = [
        (dict(train__max_iteratons=5), "option train__max_iteratons:.*max_iteratons"),
        (dict(bogus=1), "option bogus:.*unknown field `bogus`"),
        (dict(method="ls-adam", sapm__tau=0.5), "option sapm__tau:.*only read by sapm"),
        (dict(width=0), "option width:.*network.width.*>= 1"),
        (dict(method="newton"), "option method:.*newton"),
        (dict(network__depth=3), "set it with the depth= parameter"),
        (dict(data__n_train=5), "takes its data from X, y"),
        (dict(pde__problem="steady1d"), "sapm.pinn.solve"),
        (dict(network__hidden=[4, 4], depth=3), "option depth:.*network.hidden"),
    ]
    for kw, match in cases:
        with pytest.raises(ValueError, match=match):
            sapm.Regressor(**kw).fit(X, y)
    with pytest.raises(TypeError, match="option train__max_iterations: None"):
        sapm.Regressor(train__max_iterations=None).fit(X, y)


def test_not_fitted():
    with pytest.raises(Exception, match="not fitted"):
        sapm.Regressor().predict(np.zeros((2, 1)))


def test_sklearn_clone_and_grid_search():
    pytest.importorskip("sklearn")
    from sklearn.base import clone, is_regressor
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = sin_data(120)
    base = sapm.Regressor(depth=3, method="varpro", train__max_iterations=30)
    c = clone(base)
    assert c is not base and c.get_params() == base.get_params()
    assert is_regressor(base)
    gs = GridSearchCV(base, {"width": [2, 12]}, cv=3).fit(X, y)
    assert gs.best_params_ == {"width": 12}
    assert gs.best_estimator_.predict(X).shape == (120,)
    pipe = make_pipeline(StandardScaler(), sapm.Regressor(3, 8, method="elm"))
    pipe.set_params(regressor__elm__ridge=1e-8).fit(X, y)
    assert pipe.score(X, y) > 0.5


def test_verbose_uses_tqdm_when_installed(monkeypatch):
    import sys
    import types

    bars = []

    class FakeBar:
        def __init__(self, total, desc, leave):
            self.total, self.desc, self.n, self.postfix, self.closed = total, desc, 0, "", False
            bars.append(self)

        def update(self, k):
            self.n += k

        def set_postfix_str(self, s, refresh=False):
            self.postfix = s

        def close(self):
            self.closed = True

    fake = types.ModuleType("tqdm.auto")
    fake.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake)
    X, y = sin_data(500)
    sapm.Regressor(method="ls-adam", train__max_iterations=300, verbose=True).fit(X, y)
    assert len(bars) == 1 and bars[0].desc == "ls-adam" and bars[0].total == 300
    assert bars[0].n == 300 and bars[0].closed and "obj" in bars[0].postfix


def test_stubs_cover_the_native_module():
    import ast
    from pathlib import Path

    stub = Path(sapm.__file__).parent / "_sapm.pyi"
    tree = ast.parse(stub.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    native = {k for k in dir(sapm._sapm) if not k.startswith("_")}
    assert native == stubbed
    assert (Path(sapm.__file__).parent / "py.typed").is_file()
    for cls in ("Model", "Solution"):
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
        declared = {f.name for f in node.body if isinstance(f, ast.FunctionDef)} - {"__call__"}
        public = {k for k in dir(getattr(sapm._sapm, cls)) if not k.startswith("_")}
        assert public == declared, cls
