"""Reading one bar file: decoding, format detection, and each data line turned into a bar, a skip or a rejection.

Validation of the bars themselves (prices, dates, repeats) is `market_data.bars.validate_bars`'s job;
this module only answers "what does this line say".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from market_data.bars import Bar, no_trade_marker
from market_data.sources.formats import DetectedFormat, FormatError, detect_format
from market_data.sources.symbol_names import symbol_for_file, symbol_for_ticker


@dataclass(frozen=True, slots=True)
class LineIssue:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class NoTrade:
    reason: str


@dataclass
class ParsedFile:
    """What one file says: bars with their line numbers, plus skipped and rejected lines."""

    path: Path
    format_name: str
    rows_read: int = 0
    bars: list[Bar] = field(default_factory=list)
    bar_lines: list[int] = field(default_factory=list)
    skipped: list[LineIssue] = field(default_factory=list)
    rejected: list[LineIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def decode_bar_file(path: Path) -> list[str]:
    """The file's lines, UTF-8 (a BOM is allowed); FormatError naming the line of the first bad byte."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise FormatError(line, f"not UTF-8 text: byte 0x{data[error.start]:02x} at column {column}") from None
    return text.splitlines()


def count_data_lines(path: Path) -> int:
    """Non-blank lines after the header, counted on raw bytes (for files that cannot be decoded)."""
    lines = Path(path).read_bytes().splitlines()
    return sum(1 for line in lines[1:] if line.strip())


def _number(text: str, name: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{name} is not a number: {text.strip()!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number: {text.strip()!r}")
    return value


def _parse_line(detected: DetectedFormat, fields: list[str], file_symbol: str | None) -> Bar | NoTrade:
    """A Bar, or a `NoTrade` naming the marker of a day without trades. Raises ValueError with a reason."""
    bar_format = detected.format
    if len(fields) != detected.width:
        hint = " (wrong delimiter?)" if len(fields) == 1 else ""
        raise ValueError(f"expected {detected.width} fields separated by {detected.delimiter!r}, found {len(fields)}{hint}")
    if bar_format.period_column:
        period = fields[detected.column(bar_format.period_column)].strip().upper()
        if period != "D":
            raise ValueError(f"not a daily bar: <PER> is {period!r} (only D is imported)")
    symbol = file_symbol
    if bar_format.ticker_column:
        symbol = symbol_for_ticker(fields[detected.column(bar_format.ticker_column)])
    values = {
        name: _number(fields[detected.column(bar_format.columns[name])], name)
        for name in ("open", "high", "low", "close", "volume")
    }
    day = bar_format.parse_date(fields[detected.column(bar_format.columns["date"])].strip())
    if marker := no_trade_marker(*values.values()):
        return NoTrade(marker)
    assert symbol is not None
    return Bar(symbol, day, **values)


def read_bar_file(path: Path) -> ParsedFile:
    """Parse a bar file of any supported format. FormatError when the file as a whole cannot be read."""
    lines = decode_bar_file(path)
    if not lines or not lines[0].strip():
        raise FormatError(1, "empty file: no header line")
    detected = detect_format(lines[0])
    file_symbol = None if detected.format.ticker_column else symbol_for_file(path)
    parsed = ParsedFile(Path(path), detected.format.name)
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parsed.rows_read += 1
        try:
            result = _parse_line(detected, line.split(detected.delimiter), file_symbol)
        except ValueError as error:
            parsed.rejected.append(LineIssue(number, str(error)))
            continue
        if isinstance(result, NoTrade):
            parsed.skipped.append(LineIssue(number, result.reason))
        else:
            parsed.bars.append(result)
            parsed.bar_lines.append(number)
    return parsed
