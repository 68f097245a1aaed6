"""sapm.pinn.solve on built-in problems, checked against exact solutions."""

import numpy as np
import pytest

import sapm

FAST = dict(
    method="ls-adam-lbfgs",
    network__depth=3,
    network__width=10,
    pde__n_interior=64,
    train__max_iterations=300,
    adam_lbfgs__adam_steps=100,
)


def test_steady1d_against_its_exact_solution():
    sol = sapm.pinn.solve("steady1d", **FAST)
    x = np.linspace(0, 1, 501)
    u = sol(x)  # a 1-D problem takes 1-D points too
    exact = np.sin(2 * np.pi * x) + x**2  # the manufactured solution of steady1d
    np.testing.assert_allclose(sol.exact(x.reshape(-1, 1)), exact, rtol=0, atol=1e-15)
    err = np.linalg.norm(u - exact) / np.linalg.norm(exact)
    assert err < 0.05, err
    assert sol.rel_l2 == pytest.approx(err, rel=0.5)
    assert sol.status == "max_iterations" and sol.problem == "steady1d"
    assert sol.variables == ["x"] and sol.bounds == ([0.0], [1.0])
    h = sol.history
    assert h["iteration"][-1] == 300 and "rel_l2" in h
    assert isinstance(sol.diagnostics["fragile"], bool)
    assert sol.model.widths == [1, 10, 10, 1]


def test_dict_and_toml_configs_give_the_same_solution(tmp_path):
    toml = """
method = "lm"
[network]
depth = 3
width = 8
[pde]
problem = "poisson2d"
n_interior = 100
n_boundary = 40
n_test = 21
[train]
max_iterations = 15
"""
    a = sapm.pinn.solve(toml)
    b = sapm.pinn.solve(
        {
            "method": "lm",
            "network": {"depth": 3, "width": 8},
            "pde": {"problem": "poisson2d", "n_interior": 100, "n_boundary": 40, "n_test": 21},
            "train": {"max_iterations": 15},
        }
    )
    path = tmp_path / "p.toml"
    path.write_text(toml)
    c = sapm.pinn.solve(path)
    pts = a.grid(11)
    assert pts.shape == (121, 2)
    np.testing.assert_array_equal(a(pts), b(pts))
    np.testing.assert_array_equal(a(pts), c(pts))
    assert a.summary["rel_l2"] == b.summary["rel_l2"] < 0.2
    err = np.linalg.norm(a(pts) - a.exact(pts)) / np.linalg.norm(a.exact(pts))
    assert err < 0.2
    # Keyword options override the config.
    d = sapm.pinn.solve(toml, train__max_iterations=2)
    assert d.summary["iterations"] == 2


def test_periodic_problem_takes_problem_coordinates():
    sol = sapm.pinn.solve(
        "transport1d", method="lm", network__depth=3, network__width=8,
        pde__n_interior=100, pde__n_boundary=20, pde__n_test=11, train__max_iterations=20,
    )
    assert sol.model.input_names == ["cos_x", "sin_x", "t"]
    pts = sol.grid(7)
    assert pts.shape == (49, 2)
    err = np.linalg.norm(sol(pts) - sol.exact(pts)) / np.linalg.norm(sol.exact(pts))
    assert err < 0.2, err


def test_bad_problems_and_options():
    with pytest.raises(ValueError, match="unknown problem 'nope'.*steady1d"):
        sapm.pinn.solve("nope")
    with pytest.raises(ValueError, match="option pde__n_interiour"):
        sapm.pinn.solve("steady1d", pde__n_interiour=5)
    with pytest.raises(ValueError, match="option pde__beta:.*no transport speed"):
        sapm.pinn.solve("steady1d", pde__beta=3.0)
    with pytest.raises(ValueError, match="elm is not available for first-order PDE"):
        sapm.pinn.solve("steady1d", method="elm")
    with pytest.raises(ValueError, match="no \\[pde\\] section"):
        sapm.pinn.solve({"method": "lm"})
    with pytest.raises(TypeError, match="built-in problem name"):
        sapm.pinn.solve(42)
    sol = sapm.pinn.solve("steady1d", train__max_iterations=1, method="ls-adam", network__depth=2, network__width=3)
    with pytest.raises(ValueError, match="points have 2 coordinates, problem steady1d has 1"):
        sol(np.zeros((3, 2)))
    assert "steady1d" in sapm.pinn.problems() and "custom" not in sapm.pinn.problems()


def test_time_marching_solution_is_piecewise():
    sol = sapm.pinn.solve(
        "transport1d", method="lm", network__depth=3, network__width=8,
        pde__time_windows=2, pde__n_interior=100, pde__n_boundary=40, pde__n_test=11,
        train__max_iterations=15,
    )
    assert sol.windows == 2 and len(sol.summary["windows"]) == 2
    pts = sol.grid(11)
    u = sol(pts)
    err = np.linalg.norm(u - sol.exact(pts)) / np.linalg.norm(sol.exact(pts))
    # The summary's rel L2 is the piecewise solution's on the same 11 x 11 grid.
    assert err == pytest.approx(sol.rel_l2, rel=1e-9), (err, sol.rel_l2)
    # Points of the first window are not the last window's network.
    early = pts[pts[:, 1] < 0.5]
    last_net = sol.model.predict(np.stack([np.cos(early[:, 0]), np.sin(early[:, 0]), early[:, 1]], axis=1))
    assert np.max(np.abs(sol(early) - last_net[:, 0])) > 1e-6


def test_a_custom_spec_on_a_large_box_is_mapped_and_evaluated_at_physical_points():
    # u_t + u_x = 0 moved to [0, 50] x [0, 20]; a custom spec defaults to pde.scale = "unit".
    toml = """
method = "lm"
[network]
depth = 3
width = 10
[pde]
problem = "custom"
vars = ["x", "t"]
lo = [0.0, 0.0]
hi = [50.0, 20.0]
c = ["50", "20"]
g = "sin(2*pi*(x/50 - t/20))"
exact = "sin(2*pi*(x/50 - t/20))"
n_interior = 200
n_boundary = 60
n_test = 21
[train]
max_iterations = 40
"""
    sol = sapm.pinn.solve(toml)
    sc = sol.model.scaling()
    assert sc["kind"] == "minmax"
    assert list(sc["input_shift"]) == [25.0, 10.0] and list(sc["input_scale"]) == [25.0, 10.0]
    pts = sol.grid(21)
    u = sol(pts)
    np.testing.assert_array_equal(u, np.asarray(sol.model.predict(pts)).ravel())
    exact = sol.exact(pts)
    err = np.linalg.norm(u - exact) / np.linalg.norm(exact)
    assert err == pytest.approx(sol.rel_l2, rel=1e-6)
    assert err < 0.2, err
    unmapped = sapm.pinn.solve(toml, pde__scale="none")
    assert unmapped.model.scaling() is None
