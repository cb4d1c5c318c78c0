"""Progress of long steps (embedding thousands of papers, importing votes).

Code that works through many items calls a `Progress` with how many more are done, and
announces each new step with its name and size first, so a command can show one bar per
step ("embedding voted papers for the taste model 1200/3000") instead of going silent.
"""
from __future__ import annotations

import logging
import sys
from typing import Protocol


class Progress(Protocol):
    def __call__(self, n: int, step: str | None = None, total: int | None = None) -> None:
        """`n` more items done; a `step` names a new step starting (with its `total`, when known)."""


class StepBars:
    """A `Progress` drawn on stderr as one tqdm bar per step; `quiet` draws nothing."""

    def __init__(self, quiet: bool = False, unit: str = "paper"):
        self.quiet = quiet
        self.unit = unit
        self._bar = None

    def __call__(self, n: int, step: str | None = None, total: int | None = None) -> None:
        if self.quiet:
            return
        if step is not None or self._bar is None:
            self.close()
            from tqdm import tqdm

            self._bar = tqdm(desc=step or "working", total=total, unit=self.unit, file=sys.stderr, leave=False)
        self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "StepBars":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StepLog:
    """A `Progress` for a server's log (`python -m bot run`): one line as each step starts,
    with its size, and none per item (nobody watches a worker's log as it grows)."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def __call__(self, n: int, step: str | None = None, total: int | None = None) -> None:
        if step is not None:
            self.logger.info("%s (%s)", step, "?" if total is None else total)
