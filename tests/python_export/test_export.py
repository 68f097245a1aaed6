"""`sapm export` -> numpy / PyTorch: the loaders printed in docs/models.md
reproduce `sapm predict` to 1e-12 (relative, f64), for every activation.

Run: `cargo build --release -p sapm-cli && pytest tests/python_export`
(`SAPM_BIN` overrides the binary). The numpy tests need numpy; the PyTorch
test is skipped when torch is not installed.
"""

import os
import pathlib
import re
import subprocess

import pytest

np = pytest.importorskip("numpy")

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAPM = os.environ.get("SAPM_BIN", str(ROOT / "target" / "release" / "sapm"))
ACTIVATIONS = ["tanh", "sin", "sigmoid", "softplus", "relu"]


def snippet(title):
    """The python code block under the docs/models.md heading `title`."""
    text = (ROOT / "docs" / "models.md").read_text()
    section = text.split(f"## {title}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def sapm(*args, cwd):
    subprocess.run([SAPM, *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module", params=ACTIVATIONS)
def run(request, tmp_path_factory):
    """A short LM fit of 2 inputs in [0, 1000] and [-5, 5] to 2 outputs of
    very different size (default `standard` scaling), exported both ways,
    with `sapm predict` on fresh points as .npy."""
    d = tmp_path_factory.mktemp(request.param)
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(0, 1000, 80), rng.uniform(-5, 5, 80)])
    y = np.column_stack([np.sin(x[:, 0] / 200) * x[:, 1], 3e3 + 50 * np.cos(x[:, 1])])
    np.savetxt(d / "train.csv", np.hstack([x, y]), delimiter=",", header="a,b,u,v", comments="")
    (d / "c.toml").write_text(
        'method = "lm"\n[network]\ndepth = 3\nwidth = 8\n'
        f'activation = "{request.param}"\n'
        '[data]\ntrain = "train.csv"\noutputs = ["u", "v"]\n[train]\nmax_iterations = 20\n'
    )
    sapm("train", "--quiet", "--config", "c.toml", "--out", "run", cwd=d)
    sapm("export", "--model", "run", "--output", "m.npz", cwd=d)
    sapm("export", "--model", "run", "--output", "m.safetensors", cwd=d)
    pts = np.column_stack([rng.uniform(-100, 1100, 50), rng.uniform(-6, 6, 50)])
    np.savetxt(d / "in.csv", pts, delimiter=",", header="a,b", comments="")
    sapm("predict", "--model", "run", "--input", "in.csv", "--output", "p.npy", cwd=d)
    return d, pts, np.load(d / "p.npy")


def close(got, want):
    err = np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))
    print(f"max relative difference {err:.1e}")
    assert err <= 1e-12, err


def test_numpy_loader_reproduces_sapm_predict(run):
    d, pts, want = run
    scope = {}
    exec(snippet("Loading with numpy"), scope)
    close(scope["predict_npz"](d / "m.npz", pts), want)
    z = np.load(d / "m.npz")
    assert str(z["format"]) == "sapm-export" and str(z["scaling"]) == "standard"
    assert list(z["output_names"]) == ["u", "v"]


def test_safetensors_hold_the_same_tensors(run):
    st = pytest.importorskip("safetensors.numpy")
    d, _, _ = run
    z = np.load(d / "m.npz")
    t = st.load_file(str(d / "m.safetensors"))
    assert set(t) == {k for k in z.files if z[k].dtype == np.float64}
    for k, v in t.items():
        assert np.array_equal(v, z[k]), k


def test_pytorch_loader_reproduces_sapm_predict(run):
    torch = pytest.importorskip("torch")
    d, pts, want = run
    scope = {}
    exec(snippet("Loading into PyTorch"), scope)
    model = scope["load_sapm"](d / "m.npz")
    with torch.no_grad():
        got = model(torch.from_numpy(pts)).numpy()
    close(got, want)
