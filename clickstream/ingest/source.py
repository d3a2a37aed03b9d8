"""Open a CSV export (plain or gzip, CRLF or LF, with or without BOM) as a stream of lines.

Exports can be tens of gigabytes, so a file is only ever read line by line through a gzip/text
stream; nothing holds more than the current line. Each physical line is one record: REES46
exports never quote, so a record can't span lines, and treating lines independently keeps one
stray quote from swallowing the rest of the file.

Bytes that aren't UTF-8 are decoded with ``surrogateescape`` so that one bad byte makes one bad
record (which the importer passes on as malformed) instead of aborting a multi-gigabyte import.
Whole files that can't be an export (empty, binary, corrupt gzip, a header without the
format's columns) raise the user-facing errors from :mod:`clickstream.errors` naming the file
and what was expected.

Columns are found by name, not position: a re-saved export (another column order, a pandas
index column, an added column) is read the same as the original. Extra columns are named in a
warning and not imported; the format's own columns must each appear exactly once.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from clickstream.errors import EmptyInputError, InputFormatError

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 8192
_READ_ERRORS = (OSError, EOFError, zlib.error)
"""What a corrupt or truncated gzip stream raises while being read (BadGzipFile is an OSError)."""


def split_line(text: str) -> list[str]:
    """Fields of one CSV line; quoted fields are honoured, an unbalanced quote is one field."""
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error:
        return [text]


def expand_inputs(paths: Sequence[Path]) -> list[Path]:
    """Files to read: the given files, plus ``*.csv``/``*.csv.gz`` inside given folders."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.name.endswith((".csv", ".csv.gz"))
            )
            if not found:
                raise EmptyInputError(f"Folder {path} holds no .csv or .csv.gz export files.")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputFormatError(f"Input file {path} does not exist (or is not a file).")
    if not files:
        raise EmptyInputError("No input files given: pass at least one export (CSV or CSV.gz).")
    return files


class ExportFile:
    """One export file opened for streaming, its header already checked against ``columns``."""

    def __init__(self, path: Path, columns: Sequence[str], format_name: str) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.format_name = format_name
        self._raw: io.BufferedReader | None = None
        self._text: io.TextIOWrapper | None = None
        self._positions: tuple[int, ...] | None = None  # None: the header is ``columns``
        self._width = len(self.columns)

    def __enter__(self) -> ExportFile:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
        if self._raw is not None:
            self._raw.close()

    def _expected(self) -> str:
        return ",".join(self.columns)

    def _open(self) -> None:
        raw = self.path.open("rb")
        self._raw = raw
        binary: io.BufferedReader | gzip.GzipFile = raw
        if raw.peek(2)[:2] == _GZIP_MAGIC:  # by content, not by file name
            binary = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            head = binary.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
        except _READ_ERRORS as exc:
            raise InputFormatError(
                f"{self.path} looks gzip-compressed but can't be decompressed ({exc}). "
                "Re-download it or pass the uncompressed CSV."
            ) from None
        if not head.strip():
            raise EmptyInputError(
                f"{self.path} is empty: expected a {self.format_name} CSV export whose first "
                f"line is the header {self._expected()}."
            )
        if b"\x00" in head:
            raise InputFormatError(
                f"{self.path} is a binary file, not a CSV export. Expected a {self.format_name} "
                f"CSV (optionally .gz) whose first line is {self._expected()}."
            )
        self._text = io.TextIOWrapper(
            binary,
            encoding="utf-8-sig",
            errors="surrogateescape",
            newline=None,
        )
        self._check_header(self._text.readline())

    def _check_header(self, line: str) -> None:
        names = [name.strip().strip('"').lower() for name in split_line(line.rstrip("\r\n"))]
        if tuple(names) == self.columns:
            return
        missing = [name for name in self.columns if names.count(name) != 1]
        if missing:
            shown = line.strip()[:200].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise InputFormatError(
                f"{self.path} is not a {self.format_name} export: its header is {shown!r}, "
                f"expected the {len(self.columns)} columns {self._expected()} (in any order, "
                f"each once; missing or repeated: {', '.join(missing)})."
            )
        self._positions = tuple(names.index(name) for name in self.columns)
        self._width = len(names)
        extra = [name or "(unnamed)" for name in names if name not in self.columns]
        if extra:
            logger.warning(
                "%s: column(s) %s are not part of the %s format and are not imported.",
                self.path,
                ", ".join(extra),
                self.format_name,
            )

    def fields_of(self, text: str) -> list[str] | None:
        """The record's values in the format's column order; None if its field count doesn't
        match the header (a malformed record: the caller keeps :func:`split_line`'s fields)."""
        fields = split_line(text)
        if self._positions is None:
            return fields
        if len(fields) != self._width:
            return None
        return [fields[position] for position in self._positions]

    def bytes_read(self) -> int:
        """Position in the file on disk (compressed bytes for .gz), for progress bars."""
        return self._raw.tell() if self._raw is not None else 0

    def size(self) -> int:
        return self.path.stat().st_size

    def lines(self) -> Iterator[tuple[int, str]]:
        """``(line_number, text)`` of every line after the header, line endings removed.

        Line numbers are physical and 1-based, the header being line 1.
        """
        assert self._text is not None, "use ExportFile as a context manager"
        number = 1
        iterator = iter(self._text)
        while True:
            try:
                text = next(iterator)
            except StopIteration:
                return
            except _READ_ERRORS as exc:
                raise InputFormatError(
                    f"{self.path} is corrupt or truncated after line {number} ({exc}). "
                    "Re-download the file; nothing was written to the landing folder."
                ) from None
            number += 1
            yield number, text[:-1] if text.endswith("\n") else text
