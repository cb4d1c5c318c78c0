"""JSON Lines read one line at a time, from bytes: a line that is not UTF-8 or not JSON is
reported (as "FILE:LINE: why") and skipped, and the rest of the file is still read, so one
bad byte never costs a whole file (votes, labels)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Iterator


@dataclass
class JsonLine:
    number: int  # 1-based, counting blank lines too, as an editor does
    value: object = None  # the parsed JSON (None where `problem` says why not)
    problem: str = ""  # why the line could not be read (empty when it was)


def at_line(source: str, number: int, why: str) -> str:
    """How a problem with one line is named: "FILE:LINE: why"."""
    return f"{source}:{number}: {why}"


def _parse(number: int, raw: bytes) -> JsonLine:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return JsonLine(number, problem=f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
    try:
        return JsonLine(number, json.loads(text))
    except json.JSONDecodeError as exc:
        return JsonLine(number, problem=f"not valid JSON ({exc.msg})")


def read_lines(fh: IO[bytes]) -> Iterator[JsonLine]:
    """Every non-blank line of a file opened in binary, parsed or with its problem."""
    for number, raw in enumerate(fh, 1):
        if raw.strip():
            yield _parse(number, raw)
