"""The bar file formats the importers read, and their detection from a file's header line."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

DELIMITERS = (";", ",", "\t", "|")
FIELDS = ("date", "open", "high", "low", "close", "volume")


class FormatError(ValueError):
    """A file that cannot be read as bars at all; names the line (1 for the header)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def parse_iso_date(text: str) -> datetime.date:
    """`YYYY-MM-DD`, optionally followed by a time (`2023-05-22 00:00:00+00`): the GPW archive's dates."""
    if len(text) > 10 and text[10] not in " T":
        raise ValueError(f"not a date: {text!r} (expected YYYY-MM-DD)")
    try:
        return datetime.date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None


def parse_compact_date(text: str) -> datetime.date:
    """`YYYYMMDD`, stooq's bulk files."""
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise ValueError(f"not a date: {text!r} (expected YYYYMMDD)") from None


@dataclass(frozen=True)
class BarFormat:
    name: str
    description: str
    columns: dict[str, str]  # field -> header name (lower case, without <>)
    parse_date: Callable[[str], datetime.date]
    ticker_column: str | None = None
    period_column: str | None = None  # bulk files mix periods; only daily ("D") rows are bars

    @property
    def required(self) -> set[str]:
        return set(self.columns.values()) | {c for c in (self.ticker_column, self.period_column) if c}


STOOQ_POLISH = BarFormat(
    "stooq_pl",
    "stooq.pl export (Polish header), ';' or ','",
    dict(zip(FIELDS, ("data", "otwarcie", "najwyzszy", "najnizszy", "zamkniecie", "wolumen"), strict=True)),
    parse_iso_date,
)
STOOQ_ENGLISH = BarFormat(
    "stooq_en",
    "stooq.com export (English header)",
    dict(zip(FIELDS, ("date", "open", "high", "low", "close", "volume"), strict=True)),
    parse_iso_date,
)
STOOQ_BULK = BarFormat(
    "stooq_bulk",
    "stooq bulk .txt (<TICKER>,<PER>,<DATE>,...)",
    dict(zip(FIELDS, ("date", "open", "high", "low", "close", "vol"), strict=True)),
    parse_compact_date,
    ticker_column="ticker",
    period_column="per",
)
GPW_ARCHIVE = BarFormat(
    "gpw_archive",
    "GPW archive export (date,open,high,low,close,difference,volume,...)",
    dict(zip(FIELDS, ("date", "open", "high", "low", "close", "volume"), strict=True)),
    parse_iso_date,
)
# Most specific first: the GPW archive's header is the English one plus extra columns.
FORMATS = (STOOQ_BULK, GPW_ARCHIVE, STOOQ_POLISH, STOOQ_ENGLISH)
GPW_ARCHIVE_MARKERS = {"difference", "turnover", "transactions"}


@dataclass(frozen=True)
class DetectedFormat:
    format: BarFormat
    delimiter: str
    positions: dict[str, int]  # header name -> column index
    width: int  # number of columns in the header

    def column(self, name: str) -> int:
        return self.positions[name]


def header_names(header: str, delimiter: str) -> list[str]:
    return [name.strip().strip("<>").strip().lower() for name in header.split(delimiter)]


def _matches(bar_format: BarFormat, names: list[str]) -> bool:
    if bar_format is GPW_ARCHIVE:
        return bar_format.required <= set(names) and bool(GPW_ARCHIVE_MARKERS & set(names))
    return bar_format.required <= set(names)


def _missing_columns(bar_format: BarFormat, names: set[str]) -> list[str]:
    missing = sorted(bar_format.required - names)
    if bar_format is GPW_ARCHIVE and not GPW_ARCHIVE_MARKERS & names:
        missing.append("one of " + "/".join(sorted(GPW_ARCHIVE_MARKERS)))
    return missing


def _closest_missing(names: set[str]) -> tuple[BarFormat, list[str]] | None:
    """The format whose date column the header has and that lacks the fewest columns, with those columns."""
    candidates = [(f, _missing_columns(f, names)) for f in FORMATS if f.columns["date"] in names]
    candidates = [(f, missing) for f, missing in candidates if missing]
    return min(candidates, key=lambda item: len(item[1])) if candidates else None


def _expected_columns(bar_format: BarFormat) -> str:
    fields = [c for c in (bar_format.ticker_column, bar_format.period_column) if c]
    fields += list(bar_format.columns.values())
    markers = " + one of " + "/".join(sorted(GPW_ARCHIVE_MARKERS)) if bar_format is GPW_ARCHIVE else ""
    return f"{bar_format.name} = {','.join(fields)}{markers}"


def _unmatched_header(header: str) -> FormatError:
    """What the header says and which formats were tried, with the columns the closest one lacks."""
    tried = "formats tried: " + "; ".join(_expected_columns(f) for f in FORMATS)
    for delimiter in DELIMITERS:
        names = header_names(header, delimiter)
        closest = _closest_missing(set(names))
        if len(names) > 1 and closest:
            bar_format, missing = closest
            return FormatError(1, f"header {header[:120]!r} (columns {', '.join(names)}, split on {delimiter!r}) "
                                  f"matches no format; closest: {bar_format.description}, missing column(s) "
                                  f"{', '.join(missing)}. {tried}")
    return FormatError(1, f"unrecognised header {header[:120]!r} (wrong delimiter or not a bar file?); {tried}")


def detect_format(header: str) -> DetectedFormat:
    """The format of a file from its header line; FormatError(line 1) naming what is wrong otherwise."""
    header = header.lstrip("\ufeff").rstrip("\r\n")
    for delimiter in DELIMITERS:
        names = header_names(header, delimiter)
        for bar_format in FORMATS:
            if _matches(bar_format, names):
                if delimiter not in bar_format_delimiters(bar_format):
                    raise FormatError(
                        1, f"{bar_format.description} header uses delimiter {delimiter!r}, which that format never uses"
                    )
                positions = {name: names.index(name) for name in bar_format.required}
                return DetectedFormat(bar_format, delimiter, positions, len(names))
    raise _unmatched_header(header)


def bar_format_delimiters(bar_format: BarFormat) -> tuple[str, ...]:
    return (";", ",") if bar_format is STOOQ_POLISH else (",",)


def is_bar_file_header(header: str) -> bool:
    """Whether a header names a date column of some format: files found in folders without one are not bar files."""
    header = header.lstrip("\ufeff").rstrip("\r\n")
    return any(
        bar_format.columns["date"] in header_names(header, delimiter)
        and len(header_names(header, delimiter)) > 1
        for delimiter in DELIMITERS
        for bar_format in FORMATS
    )
