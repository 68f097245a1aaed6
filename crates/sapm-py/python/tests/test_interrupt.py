"""Ctrl-C during a long fit: it stops after the current iteration, keeps the
model reached and raises KeyboardInterrupt."""

import signal
import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import sapm

    X = np.linspace(-3, 3, 2000).reshape(-1, 1)
    y = np.sin(X[:, 0] ** 2)
    reg = sapm.Regressor(method="ls-adam", train__max_iterations=10**8, train__record_every=100)
    print("start", flush=True)
    try:
        reg.fit(X, y)
    except KeyboardInterrupt as e:
        t = time.perf_counter()
        s = reg.summary_
        u = reg.predict(X)
        mse = float(np.mean((u - y) ** 2))
        notes = " ".join(getattr(e, "__notes__", []))
        print("caught", s["status"], s["iterations"], repr(abs(mse - s["train_mse"]) <= 1e-9 * s["train_mse"]), notes, flush=True)
        sys.exit(0)
    print("finished without interrupt", flush=True)
    sys.exit(1)
    """
)


def test_ctrl_c_stops_the_fit_and_keeps_the_model():
    p = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout.readline().strip() == "start"
        time.sleep(1.5)  # into the training loop
        t0 = time.perf_counter()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        waited = time.perf_counter() - t0
    finally:
        p.kill()
    assert p.returncode == 0, (out, err)
    words = out.split()
    assert words[:2] == ["caught", "interrupted"], out
    assert int(words[2]) > 0, out  # iterations done before the signal
    assert words[3] == "True", out  # the kept model is the summary's model
    assert "the model reached is kept" in out
    assert waited < 5.0, waited


def test_uncaught_ctrl_c_exits_with_keyboard_interrupt():
    p = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.replace("except KeyboardInterrupt as e:", "except ZeroDivisionError as e:")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout.readline().strip() == "start"
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode != 0
    assert "KeyboardInterrupt" in err, err
