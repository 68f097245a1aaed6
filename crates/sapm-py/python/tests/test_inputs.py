"""Bad arrays raise ValueError/TypeError with messages that say what and where."""

import numpy as np
import pytest

import sapm


@pytest.fixture(scope="module")
def fitted():
    X = np.linspace(-1, 1, 40).reshape(-1, 1)
    return sapm.Regressor(2, 4, method="elm").fit(X, X[:, 0] ** 2)


X = np.linspace(-1, 1, 40).reshape(-1, 1)
Y = X[:, 0] ** 2


@pytest.mark.parametrize(
    "x,y,exc,match",
    [
        (X[:, 0], Y, ValueError, r"X must be 2-D.*shape \(40,\).*reshape\(-1, 1\)"),
        (X[None], Y, ValueError, r"X must be 2-D.*\(1, 40, 1\)"),
        (np.zeros((0, 1)), np.zeros(0), ValueError, "X is empty"),
        (np.zeros((3, 0)), np.zeros(3), ValueError, "X has no features"),
        (X, Y[:-1], ValueError, "X has 40 samples but y has 39"),
        (X, Y.reshape(-1, 1, 1), ValueError, "y must be 1-D .* or 2-D"),
        (np.where(X > 0.5, np.nan, X), Y, ValueError, r"X contains NaN at row 30, column 0 \(10 non-finite values"),
        (X, np.where(Y > 0.9, np.inf, Y), ValueError, r"y contains inf at row 0"),
        (X.astype(object), Y, TypeError, "X holds Python objects"),
        (X.astype(str), Y, TypeError, "X holds strings"),
        (X + 1j, Y, TypeError, "X holds complex numbers"),
        ("abc", Y, TypeError, "X must be an array of numbers"),
        ([[1.0], [2.0, 3.0]], [1, 2], ValueError, "X cannot be read as an array"),
    ],
)
def test_bad_fit_inputs(x, y, exc, match):
    with pytest.raises(exc, match=match):
        sapm.Regressor(2, 4, method="elm").fit(x, y)


def test_bad_predict_inputs(fitted):
    with pytest.raises(ValueError, match="X has 2 features .* the model takes 1"):
        fitted.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="X contains NaN"):
        fitted.predict(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="X is empty"):
        fitted.predict(np.zeros((0, 1)))


def test_eval_set_checks():
    with pytest.raises(TypeError, match="eval_set must be a pair"):
        sapm.Regressor(2, 4, method="elm").fit(X, Y, eval_set=X)
    with pytest.raises(ValueError, match="eval_set X has 2 features .* takes 1"):
        sapm.Regressor(2, 4, method="elm").fit(X, Y, eval_set=(np.zeros((5, 2)), np.zeros(5)))
    with pytest.raises(ValueError, match="eval_set y has 2 outputs, y has 1"):
        sapm.Regressor(2, 4, method="elm").fit(X, Y, eval_set=(X, np.zeros((40, 2))))


def test_integer_and_bool_inputs_are_accepted():
    xi = np.arange(-5, 5).reshape(-1, 1)
    reg = sapm.Regressor(2, 4, method="elm").fit(xi, xi[:, 0] ** 2)
    np.testing.assert_array_equal(reg.predict(xi), reg.predict(xi.astype(float)))
    big_endian = X.astype(">f8")
    np.testing.assert_array_equal(
        sapm.Regressor(2, 4, method="elm").fit(big_endian, Y).predict(X),
        sapm.Regressor(2, 4, method="elm").fit(X, Y).predict(X),
    )
