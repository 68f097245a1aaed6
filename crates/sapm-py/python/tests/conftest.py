"""Shared fixtures: the `sapm` binary for the CLI comparisons."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="session")
def sapm_bin() -> Path:
    """`$SAPM_BIN`, else the workspace's target/release/sapm. CI must have it
    (`CI` set: missing is a failure); elsewhere the test is skipped."""
    p = Path(os.environ.get("SAPM_BIN") or REPO / "target" / "release" / "sapm")
    if not p.is_file():
        msg = f"no sapm binary at {p} (cargo build --release -p sapm-cli, or set SAPM_BIN)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return p
