"""Whether DuckDB's own readers may read a file of lines as the rule reads it.

:func:`plain_file` scans a JSON lines file for what DuckDB's JSON reader reads otherwise
than :mod:`treatment_engine.profile_json` (simulate's and decide's fast reading,
:mod:`.json_lines`, and the journeys' events, :mod:`..journeys.duckdb_file`, take DuckDB's
reader only for a plain file); :func:`file_lines` gives a file's lines as one column, for
this scan and for the CSV one (:func:`.careful_csv.plain_csv`).
"""

from __future__ import annotations

import mmap
import os
import re
import stat
from typing import Any

from ..profile_json import MAX_DEPTH


def plain_file(path: str, connection: Any = None, mapped: bool | None = None) -> bool:
    """True when DuckDB's JSON reader may read ``path`` (see :mod:`.json_lines`).

    The file is scanned for what DuckDB's JSON reader accepts and the rule does not:
    ``NaN``/``Infinity`` in any case where a value starts, a comma before a closing
    bracket, ``\v`` or ``\f`` (blank to it at a line's ends; it refuses every other
    control character but JSON's own whitespace wherever it stands, and so sends the file
    the careful way itself), a line of ``null`` (a row of nulls to it), a line nested
    deeper than the limit (only a line with that many brackets can be), a byte-order mark
    where a line starts. What the reader refuses itself (a line that is not UTF-8, or
    longer than its limit) is left to it: the caller then reads the file the careful way.
    A path that is not a regular file is not plain (and never opened here).

    Two scans find the same things: by DuckDB over the file's lines (``connection``, if
    lent, runs it), or over the mapped file's bytes with Arrow (:data:`PLAIN_PATTERNS`).
    The second costs about 0.2 s to import Arrow and numpy, and less a line than the
    first (1,000,000 profiles of 288 bytes: 0.55 against 0.53 CPU s, the import counted;
    10,000,000 events of 86 bytes: 1.5 against 2.6): it is taken for a file of more than
    about :data:`MAPPED_FROM_LINES` lines (``mapped`` chooses, for tests)."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(status.st_mode):  # a pipe or a device: never opened here
        return False
    if not status.st_size:
        return True
    if mapped is None:
        mapped = _lines_about(path, status.st_size) > MAPPED_FROM_LINES
    return _plain_mapped(path) if mapped else _plain_by_lines(path, connection)


MAPPED_FROM_LINES = 2_000_000


def _lines_about(path: str, size: int) -> float:
    """The file's lines, about: its size over the mean length of the lines in its first
    64 KiB (none for a file that cannot be opened: the scan by lines then says so)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(1 << 16)
    except OSError:
        return 0
    return size * (head.count(b"\n") or 1) / max(len(head), 1)


def _plain_mapped(path: str) -> bool:
    try:
        with open(path, "rb") as stream:
            view = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return False
    with view:
        return _plain_bytes(view)


def _plain_by_lines(path: str, connection: Any = None) -> bool:
    """The scan by lines: DuckDB splits the file into lines (in parallel) and tests each
    with :data:`SUSPICIOUS_LINE`."""
    return no_line_matches(path, SUSPICIOUS_LINE, connection)


def no_line_matches(path: str, condition: str, connection: Any = None) -> bool:
    """True when no line of ``path`` (:func:`file_lines`) meets ``condition``, SQL over
    ``line``; False too for a file DuckDB cannot split as its readers would (not UTF-8, a
    line over the size limit, a lone carriage return). The JSON lines scan and the CSV one
    (:func:`.careful_csv.plain_csv`)."""
    import duckdb

    try:
        if connection is None:  # a connection costs 0.03-0.1 s: the caller may lend its own
            connection = duckdb.connect()
            connection.execute("SET enable_progress_bar_print = false")
        found = connection.execute(f"SELECT count(*) FILTER (WHERE {condition}) FROM {file_lines(path)}").fetchone()
    except duckdb.Error:
        return False
    return found is not None and found[0] == 0


# The scan reads the file's bytes once, mapped, not line by line: DuckDB's regular
# expressions cost about 125 ns a call whatever the line holds, so on short lines their
# number counted most (10 million journey events, 86 bytes a line: 5.7 CPU s for the
# scan by lines, 1.5 of it to split them). Here each test runs over whole pieces of the
# file: a single byte by memchr (mmap.find), the patterns by RE2 through Arrow (which
# lets go of Python's lock, so the pieces are scanned on two threads), the lines' lengths
# by numpy. No pattern crosses a newline, so a match lies within one line, as the
# reader's lines are. The patterns, each led by one literal character, which RE2 finds
# by memchr (an alternation of them, or a class of control characters, runs its automaton
# on every byte: 2.3 against 0.3-0.6 ms of CPU per MB):
PLAIN_PATTERNS = (
    r",[ \t\r]*([\]}]|[-+]?(?i:nan|inf))",  # a comma before a closing bracket, or NaN or
    r":[ \t\r]*[-+]?(?i:nan|inf)",  # Infinity where a value starts
    r"\[[ \t\r]*[-+]?(?i:nan|inf)",
    r"\n[ \t\r]*null[ \t\r]*\n",  # a line of null (the file's first and last lines apart)
)
# The scan by lines' test of one line, as SQL over ``line``: the first three patterns (a
# line holds no newline), and the other tests by line. Each regular expression call costs
# about 85-125 ns a line whatever it holds, hence the few calls; a line of null is sought
# only in a line without a double quote (every object with a name has one), NaN or
# Infinity after a bracket only in a line with a bracket (most profiles hold no list:
# 1,000,000 profiles, 0.12 CPU s for the expression over every line, about 0.03 s for
# the byte test, CASE running the expression only where it holds).
SUSPICIOUS_LINE = " OR ".join([
    "contains(line, chr(11)) OR contains(line, chr(12))",
    *(f"regexp_matches(line, '{pattern}')" for pattern in PLAIN_PATTERNS[:2]),
    f"CASE WHEN contains(line, '[') THEN regexp_matches(line, '{PLAIN_PATTERNS[2]}') ELSE false END",
    f"CASE WHEN strlen(line) > {2 * MAX_DEPTH} THEN strlen(line) - strlen(replace(replace(line, '[', ''), "
    f"'{{', '')) > {MAX_DEPTH} ELSE false END",
    r"CASE WHEN contains(line, chr(34)) THEN false ELSE regexp_full_match(line, '[ \t\r]*null[ \t\r]*') END",
    "starts_with(line, '\ufeff')",
])
_NULL_LINE = re.compile(rb"[ \t\r]*null[ \t\r]*")
_PIECE = 8 << 20  # bytes a piece, about: each piece ends at a newline


def _plain_bytes(view: Any) -> bool:
    size = len(view)
    first = view.find(b"\n")
    if view[:3] == b"\xef\xbb\xbf" or _NULL_LINE.fullmatch(view[:first if first >= 0 else size]):
        return False
    if view[size - 1] != 0x0A and _NULL_LINE.fullmatch(view[view.rfind(b"\n") + 1:]):
        return False
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        return all(pool.map(lambda piece: _plain_piece(view, *piece), _pieces(view)))


def _pieces(view: Any) -> list[tuple[int, int]]:
    """(start, end) of each piece: from the newline before its first line (the file's
    start for the first piece) through the newline after its last line, so that every line
    but the file's first and last has its newline on both sides within one piece."""
    size, start, pieces = len(view), 0, []
    while start < size:
        cut = view.rfind(b"\n", start + 1, start + _PIECE) if start + _PIECE < size else -1
        end = size if cut < 0 else cut + 1
        pieces.append((start, end))
        start = end - 1 if cut >= 0 else size
    return pieces


def _plain_piece(view: Any, start: int, end: int) -> bool:
    """Whether the piece from ``start`` to ``end`` holds nothing the reader reads otherwise.
    Its pages are let go of afterwards: the scan keeps no more of the file in memory than
    the pieces being read (the mapped file's pages would count as the process's own)."""
    try:
        return _plain_bytes_of(view, start, end)
    finally:
        if hasattr(mmap, "MADV_DONTNEED"):
            page = start - start % mmap.PAGESIZE
            view.madvise(mmap.MADV_DONTNEED, page, end - page)


def _plain_bytes_of(view: Any, start: int, end: int) -> bool:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if view.find(b"\x0b", start, end) >= 0 or view.find(b"\x0c", start, end) >= 0:
        return False
    # a byte-order mark where a line starts (the file's first line apart); memchr first
    if view.find(b"\xef", start, end) >= 0 and view.find(b"\n\xef\xbb\xbf", start, end) >= 0:
        return False
    offsets = pa.py_buffer(np.array([start, end], dtype=np.int64))
    piece = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(view)])
    if any(pc.match_substring_regex(piece, pattern)[0].as_py() for pattern in PLAIN_PATTERNS):
        return False
    # only a line longer than 2 * MAX_DEPTH bytes can hold MAX_DEPTH brackets
    ends = np.flatnonzero(np.frombuffer(view, dtype=np.uint8, count=end - start, offset=start) == 0x0A) + start
    edges = np.concatenate((np.array([start - 1] if start == 0 else [], dtype=np.int64), ends,
                            np.array([] if view[end - 1] == 0x0A else [end], dtype=np.int64)))
    for k in np.flatnonzero(np.diff(edges) > 2 * MAX_DEPTH + 1):
        line = view[int(edges[k]) + 1:int(edges[k + 1])]
        if line.count(b"[") + line.count(b"{") > MAX_DEPTH:
            return False
    return True


def file_lines(path: str) -> str:
    """The file's lines as one text column, ``line``, split as DuckDB's CSV reader splits
    them (at ``\n``, and at ``\r`` alone). Its buffers are the longest line's size: by
    default DuckDB's CSV reader takes sixteen times that for each, which made a scan of
    1,000,000 profiles (288 MB) peak at 359-378 MB of memory against 148-165 MB, and cost
    0.58-0.64 CPU s against 0.53-0.55 (fresh buffers are fresh pages to fault in)."""
    return (f"read_csv({_text(path)}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x01', "
            f"quote = '', escape = '', auto_detect = false, max_line_size = {_MAX_LINE}, "
            f"buffer_size = {_MAX_LINE})")


_MAX_LINE = 16 << 20  # read_json's own limit on one value (maximum_object_size)


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
