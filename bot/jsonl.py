"""JSON Lines read one line at a time, from bytes: a line that is not UTF-8 or not JSON is
reported (as "FILE:LINE: why") and skipped, and the rest of the file is still read, so one
bad byte never costs a whole file (votes, labels).

A gzip file is read as the lines it holds, recognised by its magic bytes whatever its
name, and a UTF-8 byte order mark (which editors on Windows write) before the first line
is dropped: votes and eval labels are read by this one reader, so both take both forms."""
from __future__ import annotations

import gzip
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# What a cut-off or corrupt gzip stream raises part way through (zlib.error: a bad deflate block).
UNREADABLE = (OSError, EOFError, zlib.error)


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


def _peek(fh: IO[bytes], size: int) -> tuple[IO[bytes], bytes]:
    """The stream (wrapped if it cannot seek back) and its first `size` bytes, unread."""
    if fh.seekable():
        start = fh.tell()
        head = fh.read(size)
        fh.seek(start)
        return fh, head
    buffered = io.BufferedReader(fh)  # type: ignore[arg-type]  # any readable raw or buffered stream
    return buffered, buffered.peek(size)[:size]


def plain(fh: IO[bytes]) -> IO[bytes]:
    """The uncompressed bytes of `fh`: itself, or what the gzip stream it holds unpacks to."""
    fh, head = _peek(fh, len(GZIP_MAGIC))
    return gzip.GzipFile(fileobj=fh, mode="rb") if head == GZIP_MAGIC else fh


def read_lines(fh: IO[bytes], name: str = "input") -> Iterator[JsonLine]:
    """Every non-blank line of a file opened in binary (plain or gzip), parsed or with its
    problem. A gzip stream cut off or corrupt part way is a ValueError naming the file
    (`name`, such as "labels file data/x.jsonl.gz"): what follows cannot be read."""
    try:
        for number, raw in enumerate(plain(fh), 1):
            if number == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM):]
            if raw.strip():
                yield _parse(number, raw)
    except UNREADABLE as exc:
        raise ValueError(f"cannot read {name}: {exc or type(exc).__name__} (a cut-off or corrupt gzip "
                         "file? `gunzip -t` on it tells; export or copy it again)") from None


def open_binary(path: str | Path, what: str) -> IO[bytes]:
    """`path` opened for read_lines; a file that cannot be opened is a ValueError naming
    `what` it is ("feedback file", "labels file") and the path."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
