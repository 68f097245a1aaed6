"""Progress of a fit: a tqdm bar when tqdm is installed, else a text line to
stderr at most once a second. The native fit calls the object with
`(stage, iteration, total, objective, metrics)` from the calling thread."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO


class TextProgress:
    """One line per second: `label [stage k] it/total obj ... metrics`."""

    def __init__(self, label: str, stream: Optional[TextIO] = None, every: float = 1.0):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self._last = 0.0
        self._line = ""

    def __call__(self, stage: int, it: int, total: int, objective: float, metrics: str) -> None:
        st = f" stage {stage}" if stage > 1 else ""
        self._line = f"{self.label}{st}: {it}/{total} obj {objective:.3e} {metrics}".rstrip()
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(self._line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._line:
            print(self._line, file=self.stream, flush=True)


class TqdmProgress:
    """A tqdm bar over iterations (reset at each stage of a staged PINN run)."""

    def __init__(self, label: str, tqdm: Any):
        self.label = label
        self._tqdm = tqdm
        self._bar: Any = None
        self._stage = 0

    def __call__(self, stage: int, it: int, total: int, objective: float, metrics: str) -> None:
        if self._bar is None or stage != self._stage:
            if self._bar is not None:
                self._bar.close()
            desc = self.label if stage <= 1 else f"{self.label} stage {stage}"
            self._bar = self._tqdm(total=total, desc=desc, leave=True)
            self._stage = stage
        self._bar.update(it - self._bar.n)
        self._bar.set_postfix_str(f"obj {objective:.3e} {metrics}".rstrip(), refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def make(verbose: Any, label: str) -> Any:
    """None when `verbose` is false; `"text"` forces the text lines."""
    if not verbose:
        return None
    if verbose != "text":
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            pass
        else:
            return TqdmProgress(label, tqdm)
    return TextProgress(label)
