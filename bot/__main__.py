"""`python -m bot`: the command line as a process."""
import os
import sys

from .cli import READER_LEFT, main


def _stdout_to_devnull() -> None:
    """The reader left (`| head`): output still buffered goes nowhere, instead of failing
    again as Python flushes stdout at exit. Only here, as the process ends: an in-process
    caller of main() keeps its stdout."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file: nothing is flushed at exit
        pass


code = main()
if code == READER_LEFT:
    _stdout_to_devnull()
raise SystemExit(code)
