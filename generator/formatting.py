"""Vectorised text building: numpy arrays in, Arrow string arrays (CSV-ready) out.

The hot path never creates a Python object per row: fixed-width values (UUIDs, datetimes) are
laid out as byte matrices with integer arithmetic and handed to Arrow without a copy, decimals and
integers are formatted by Arrow casts, repeated values are taken from small pre-escaped pools, CSV
lines are joined row-wise in C++, and lines go to the file straight from Arrow's buffers.
"""

from __future__ import annotations

import itertools
import os
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NEEDS_QUOTES = '[,"\\r\\n]'
_DASH, _SPACE, _COLON, _ZERO = ord("-"), ord(" "), ord(":"), ord("0")
_DAY_S = 86_400


def _hex_quads() -> np.ndarray:
    """Every uint16 (two bytes, little-endian) -> its four lowercase hex digits as one uint32."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)
    value = np.arange(1 << 16, dtype=np.uint32)
    first, second = value & 0xFF, value >> 8
    return (
        digits[first >> 4]
        | digits[first & 0xF] << 8
        | digits[second >> 4] << 16
        | digits[second & 0xF] << 24
    )


_HEX_QUADS = _hex_quads()


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


def with_empty(pool: pa.Array) -> pa.Array:
    """``pool`` (nulls as ``""``) plus a trailing ``""``: the target of :func:`take_or_empty`."""
    pool = pc.fill_null(pool.cast(pa.string()), "") if pool.null_count else pool
    return pa.concat_arrays([pool, pa.array([""], pa.string())])


def take_or_empty(pool_e: pa.Array, index: np.ndarray) -> pa.Array:
    """``pool_e[index]`` with negative indexes giving ``""`` (``pool_e`` from :func:`with_empty`).

    A CSV field that is empty either way; building it without a validity bitmap saves a
    ``fill_null`` copy before the lines are joined.
    """
    return pool_e.take(pa.array(np.where(index < 0, len(pool_e) - 1, index)))


def int_strings(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Decimal text of integers, null where ``valid`` is False."""
    arr = pa.array(np.asarray(values, dtype=np.int64), mask=None if valid is None else ~valid)
    return pc.cast(arr, pa.string())


def cents_strings(cents: np.ndarray, valid: np.ndarray) -> pa.Array:
    """``1234`` -> ``"12.34"`` (non-negative cents), null where not valid.

    The cents are reinterpreted as the unscaled value of a ``decimal128(18, 2)`` and cast to text
    by Arrow, one pass instead of formatting whole and fractional parts and joining them.
    """
    valid = np.asarray(valid, dtype=bool)
    unscaled = np.zeros((len(valid), 2), dtype=np.int64)  # (low, high) words, little-endian
    unscaled[:, 0] = np.where(valid, cents, 0)
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    decimals = pa.Array.from_buffers(
        pa.decimal128(18, 2), len(valid), [validity, pa.py_buffer(unscaled)]
    )
    return decimals.cast(pa.string())


def prefixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``("U", [7], 7)`` -> ``["U0000007"]``."""
    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0"
    )
    return pc.binary_join_element_wise(prefix, digits, "")


def uuid_strings(raw: np.ndarray) -> pa.Array:
    """Format an (n, 16) uint8 array as version-4 UUID text without per-row Python work.

    Each pair of bytes becomes four hex digits with one table lookup (a 256 KiB table), written
    four characters at a time into the 36-byte rows.
    """
    if len(raw) == 0:
        return pa.array([], pa.string())
    raw = np.array(raw, dtype=np.uint8, copy=True)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    quads = _HEX_QUADS[raw.view("<u2")]  # (n, 8): 4 hex digits per 2 bytes
    words = np.empty((raw.shape[0], 9), dtype="<u4")  # 36 characters per row
    chars = words.view(np.uint8)
    words[:, 0:2] = quads[:, 0:2]  # 8 digits
    for dash, quad in ((8, 2), (13, 3), (18, 4)):  # -4 digits, three times (unaligned)
        chars[:, dash] = _DASH
        _column_view(chars, dash + 1, "<u4")[:] = quads[:, quad]
    chars[:, 23] = _DASH
    words[:, 6:9] = quads[:, 5:8]  # 12 digits
    return fixed_width_strings(chars)


def _column_view(chars: np.ndarray, column: int, dtype: str) -> np.ndarray:
    """The bytes at ``chars[:, column:column + itemsize]`` of every row, as one ``dtype`` each."""
    return np.ndarray(
        shape=(chars.shape[0],),
        dtype=dtype,
        buffer=chars,
        offset=column,
        strides=(chars.strides[0],),
    )


def fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An (n, w) uint8 ASCII matrix as an Arrow string array, sharing the matrix's memory."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def ipv4_strings(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> pa.Array:
    """Anonymised IPv4 text ``a.b.c.0`` (last octet zeroed)."""
    parts = [pc.cast(pa.array(np.asarray(x, dtype=np.int64)), pa.string()) for x in (a, b, c)]
    return pc.binary_join_element_wise(*parts, "0", ".")


def _put_digits(chars: np.ndarray, column: int, width: int, values: np.ndarray) -> None:
    """Write ``values`` as zero-padded decimal digits into ``chars[:, column:column + width]``."""
    for k in range(width - 1, -1, -1):
        values, digit = np.divmod(values, 10)
        chars[:, column + k] = _ZERO + digit


def datetime_strings(epoch_seconds: np.ndarray) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) from epoch seconds (years 0-9999).

    The civil date comes from Howard Hinnant's days-to-date arithmetic, vectorised; this is
    several times faster than ``strftime`` on a timestamp array.
    """
    days, second_of_day = np.divmod(np.asarray(epoch_seconds, dtype=np.int64), _DAY_S)
    z = days + 719_468  # days since 0000-03-01
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153  # month counted from March
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    hour, rest = np.divmod(second_of_day, 3600)
    minute, second = np.divmod(rest, 60)
    chars = np.empty((len(days), 19), dtype=np.uint8)
    chars[:, [4, 7]] = _DASH
    chars[:, 10] = _SPACE
    chars[:, [13, 16]] = _COLON
    for column, width, values in (
        (0, 4, year),
        (5, 2, month),
        (8, 2, day),
        (11, 2, hour),
        (14, 2, minute),
        (17, 2, second),
    ):
        _put_digits(chars, column, width, values)
    return fixed_width_strings(chars)


def csv_lines(columns: list[pa.Array]) -> pa.Array:
    """Join already-escaped columns into newline-terminated CSV lines (null = empty field)."""
    last = columns[-1]
    if last.null_count == len(last):
        last = pc.fill_null(last, "\n")
    else:
        last = pc.binary_join_element_wise(pc.fill_null(last, ""), "\n", "")
    filled = [pc.fill_null(c, "") if c.null_count else c for c in columns[:-1]]
    return pc.binary_join_element_wise(*filled, last, ",")


def csv_lines_empty_last(columns: list[pa.Array]) -> pa.Array:
    """CSV lines of ``columns`` plus one more, always empty, column at the end.

    The empty last field is written as a ``"\\n"`` scalar after the final separator, so the
    newline costs no extra column or pass.
    """
    filled = [pc.fill_null(c, "") if c.null_count else c for c in columns]
    return pc.binary_join_element_wise(*filled, "\n", ",")


def header_line(names: tuple[str, ...] | list[str]) -> bytes:
    return (",".join(names) + "\n").encode("utf-8")


def _line_buffer(lines: pa.Array) -> tuple[memoryview, list[int]]:
    """The data buffer of a string array and its ``len + 1`` value offsets."""
    if lines.null_count:
        raise ValueError("CSV line array contains nulls")
    count = lines.offset + len(lines) + 1
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=count)[lines.offset :]
    data = lines.buffers()[2]
    return memoryview(data if data is not None else b""), offsets.tolist()


def line_views(lines: pa.Array) -> list[memoryview]:
    """One zero-copy view per value of a string array."""
    data, offsets = _line_buffer(lines)
    return [data[a:b] for a, b in itertools.pairwise(offsets)]


def write_lines(handle: BinaryIO, lines: pa.Array) -> None:
    """Write a string array's bytes in one call (values must already end with ``\\n``)."""
    if len(lines):
        data, offsets = _line_buffer(lines)
        handle.write(data[offsets[0] : offsets[-1]])


def write_patched(
    handle: BinaryIO, lines: pa.Array, positions: np.ndarray, replacements: list[memoryview]
) -> None:
    """Write ``lines`` with the values at (ascending) ``positions`` replaced, without a copy.

    The untouched runs between replaced lines and the replacements go to the file in order with
    vectored writes (``os.writev``), one system call for up to ``IOV_MAX`` pieces.
    """
    data, offsets = _line_buffer(lines)
    segments: list[memoryview] = []
    start = 0
    for position, replacement in zip(positions.tolist(), replacements, strict=True):
        segments += [data[offsets[start] : offsets[position]], replacement]
        start = position + 1
    segments.append(data[offsets[start] : offsets[-1]])
    write_segments(handle, segments)


_IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX")) if hasattr(os, "sysconf") else 1024


def write_segments(handle: BinaryIO, segments: list[memoryview]) -> None:
    """Write byte segments in order, as few system calls as possible and no joining copy."""
    pending = [s for s in segments if len(s)]
    if not hasattr(os, "writev"):  # pragma: no cover - not POSIX
        for segment in pending:
            handle.write(segment)
        return
    handle.flush()  # what the buffered writer holds goes first
    fd = handle.fileno()
    while pending:
        batch = pending[:_IOV_MAX]
        written = os.writev(fd, batch)
        done = 0
        while done < len(batch) and written >= len(batch[done]):  # a short write is legal
            written -= len(batch[done])
            done += 1
        pending = pending[done:]
        if written:
            pending[0] = pending[0][written:]
