"""Vectorised text building: numpy arrays in, Arrow string arrays (CSV-ready) out.

The hot path never creates a Python object per row: values are formatted by Arrow compute
kernels, CSV lines are joined row-wise in C++, and a whole chunk is written by handing the string
array's data buffer to the file.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NEEDS_QUOTES = '[,"\\r\\n]'


def escape_csv_value(value: str) -> str:
    """RFC 4180 quoting of one value (for small pools built in Python)."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_escape(values: pa.Array) -> pa.Array:
    """RFC 4180 quoting of a string array: quote only the values that need it."""
    values = values.cast(pa.string())
    needs = pc.fill_null(pc.match_substring_regex(values, _NEEDS_QUOTES), False)
    if not pc.any(needs).as_py():
        return values
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)


def take_pool(pool: pa.Array, index: np.ndarray) -> pa.Array:
    """``pool[index]`` with negative indexes giving null."""
    index = np.asarray(index)
    mask = index < 0
    if mask.any():
        return pool.take(pa.array(np.where(mask, 0, index), mask=mask))
    return pool.take(pa.array(index))


def int_strings(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Decimal text of integers, null where ``valid`` is False."""
    arr = pa.array(np.asarray(values, dtype=np.int64), mask=None if valid is None else ~valid)
    return pc.cast(arr, pa.string())


def cents_strings(cents: np.ndarray, valid: np.ndarray) -> pa.Array:
    """``1234`` -> ``"12.34"`` (non-negative cents), null where not valid."""
    cents = np.where(valid, cents, 0).astype(np.int64)
    mask = ~valid
    whole = pc.cast(pa.array(cents // 100, mask=mask), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def prefixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``("U", [7], 7)`` -> ``["U0000007"]``."""
    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0"
    )
    return pc.binary_join_element_wise(prefix, digits, "")


def uuid_strings(raw: np.ndarray) -> pa.Array:
    """Format an (n, 16) uint8 array as version-4 UUID text without per-row Python work."""
    raw = np.array(raw, dtype=np.uint8, copy=True)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    n = raw.shape[0]
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = _HEX[raw >> 4]
    nibbles[:, 1::2] = _HEX[raw & 0x0F]
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)
    chars[:, 0:8] = nibbles[:, 0:8]
    chars[:, 9:13] = nibbles[:, 8:12]
    chars[:, 14:18] = nibbles[:, 12:16]
    chars[:, 19:23] = nibbles[:, 16:20]
    chars[:, 24:36] = nibbles[:, 20:32]
    return fixed_width_strings(chars)


def fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An (n, w) uint8 ASCII matrix as an Arrow string array, zero-copy."""
    n, width = chars.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    data = np.ascontiguousarray(chars).tobytes()
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def ipv4_strings(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> pa.Array:
    """Anonymised IPv4 text ``a.b.c.0`` (last octet zeroed)."""
    parts = [pc.cast(pa.array(np.asarray(x, dtype=np.int64)), pa.string()) for x in (a, b, c)]
    return pc.binary_join_element_wise(*parts, "0", ".")


def datetime_strings(epoch_seconds: np.ndarray) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) from epoch seconds."""
    ts = pa.array(np.asarray(epoch_seconds, dtype="datetime64[s]"))
    return pc.strftime(ts, format="%Y-%m-%d %H:%M:%S")


def csv_lines(columns: list[pa.Array]) -> pa.Array:
    """Join already-escaped columns into newline-terminated CSV lines (null = empty field)."""
    last = columns[-1]
    if last.null_count == len(last):
        last = pc.fill_null(last, "\n")
    else:
        last = pc.binary_join_element_wise(pc.fill_null(last, ""), "\n", "")
    filled = [pc.fill_null(c, "") if c.null_count else c for c in columns[:-1]]
    return pc.binary_join_element_wise(*filled, last, ",")


def header_line(names: tuple[str, ...] | list[str]) -> bytes:
    return (",".join(names) + "\n").encode("utf-8")


def write_lines(handle: BinaryIO, lines: pa.Array) -> None:
    """Write a string array's bytes in one call (values must already end with ``\\n``)."""
    if len(lines) == 0:
        return
    if lines.null_count:
        raise ValueError("CSV line array contains nulls")
    lines = pa.concat_arrays([lines]) if lines.offset else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1)
    data = lines.buffers()[2]
    handle.write(memoryview(data)[offsets[0] : offsets[-1]])
