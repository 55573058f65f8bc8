"""Importing bar files into a store, with a report that accounts for every data row.

Accounting, per file and in total: rows_read = stored + duplicates + skipped + rejected + not_written,
where rows_read counts the non-blank lines after the header, `duplicates` are valid bars whose symbol
and date were already stored (so importing a file twice stores each bar once), `skipped` are the GPW
archive's no-trade days, `rejected` are lines that are not valid bars, each reported with its own
`path:line: reason`, and `not_written` are the rows of a file that failed as a whole (unreadable
header, missing column, non-UTF-8 bytes: its one error names the file and line) and the valid rows
held back by a --strict import that found rejections.

Each file is written in one transaction. With `strict`, every file is parsed and validated first
and nothing at all is written if any row or file is rejected.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from market_data.bars import Bar, BarSeries, validate_bars
from market_data.sources.formats import FormatError, is_bar_file_header
from market_data.sources.reader import count_data_lines, read_bar_file
from market_data.stores.base import BarStore
from market_data.symbols import load_symbols

BAR_FILE_SUFFIXES = {".csv", ".txt"}
COUNTS = ("rows_read", "stored", "duplicates", "skipped", "rejected", "not_written")


@dataclass(frozen=True, slots=True)
class RowIssue:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line else f"{self.path}: {self.reason}"


@dataclass
class FileReport:
    path: Path
    format_name: str | None = None
    symbols: list[str] = field(default_factory=list)
    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: int = 0
    not_written: int = 0
    error: RowIssue | None = None  # the file as a whole was not imported
    ignored: str | None = None  # found in a folder but not a bar file; no rows read
    skipped_rows: list[RowIssue] = field(default_factory=list)
    rejected_rows: list[RowIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.rows_read == sum(getattr(self, name) for name in COUNTS[1:])

    def fail(self, error: RowIssue) -> None:
        """The file as a whole cannot be imported: none of its rows is written."""
        self.error = error
        self.stored = self.duplicates = self.skipped = self.rejected = 0
        self.not_written = self.rows_read

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "format": self.format_name,
            "symbols": self.symbols,
            **{key: getattr(self, key) for key in COUNTS},
            "error": str(self.error) if self.error else None,
            "ignored": self.ignored,
            "skipped_rows": [str(issue) for issue in self.skipped_rows],
            "rejected_rows": [str(issue) for issue in self.rejected_rows],
            "notes": self.notes,
        }


@dataclass
class ImportReport:
    files: list[FileReport]
    strict: bool = False
    aborted: bool = False  # strict import with a rejection: nothing written

    def total(self, name: str) -> int:
        return sum(getattr(report, name) for report in self.files)

    @property
    def totals(self) -> dict[str, int]:
        return {name: self.total(name) for name in COUNTS}

    @property
    def balanced(self) -> bool:
        return all(report.balanced for report in self.files)

    @property
    def clean(self) -> bool:
        """No file failed and no row was rejected."""
        return not self.aborted and self.total("rejected") == 0 and not any(r.error for r in self.files)

    def errors(self) -> list[RowIssue]:
        """File errors and rejected rows, in file and line order."""
        return [issue for r in self.files for issue in ([r.error] if r.error else []) + r.rejected_rows]

    def issues(self) -> list[RowIssue]:
        """File errors and rejected rows, then skipped rows, in file and line order."""
        return self.errors() + [issue for r in self.files for issue in r.skipped_rows]

    def to_dict(self) -> dict:
        return {"strict": self.strict, "aborted": self.aborted, "totals": self.totals,
                "files": [report.to_dict() for report in self.files]}


def collect_files(paths: Iterable[Path]) -> list[tuple[Path, bool]]:
    """(file, named explicitly) for files and, recursively, the .csv/.txt files of folders, in path order."""
    collected: list[tuple[Path, bool]] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in BAR_FILE_SUFFIXES)
            collected.extend((p, False) for p in found)
        else:
            collected.append((path, True))
    return collected


def _first_line(path: Path) -> str:
    with open(path, "rb") as handle:
        return handle.readline().decode("utf-8", errors="replace")


def _group_by_symbol(bars: Sequence[Bar]) -> list[BarSeries]:
    by_symbol: dict[str, list[Bar]] = defaultdict(list)
    for bar in bars:
        by_symbol[bar.symbol].append(bar)
    return [BarSeries.from_bars(by_symbol[symbol]) for symbol in sorted(by_symbol)]


def plan_file(path: Path, explicit: bool, today: datetime.date | None = None) -> tuple[FileReport, list[BarSeries]]:
    """Read and validate one file without writing: its report so far and the series to store."""
    report = FileReport(path)
    try:
        parsed = read_bar_file(path)
    except FormatError as error:
        header = _first_line(path)
        if not explicit and error.line == 1 and header.strip() and not is_bar_file_header(header):
            report.ignored = f"not a bar file (header {header.strip()[:60]!r})"
            return report, []
        report.rows_read = count_data_lines(path)
        report.fail(RowIssue(path, error.line, error.reason))
        return report, []
    except OSError as error:
        report.fail(RowIssue(path, 0, f"cannot read: {error.strerror or error}"))
        return report, []
    report.format_name, report.rows_read = parsed.format_name, parsed.rows_read
    report.notes.extend(parsed.notes)
    accepted, rejections = validate_bars(parsed.bars, today, [f"line {n}" for n in parsed.bar_lines])
    report.skipped_rows = [RowIssue(path, issue.line, issue.reason) for issue in parsed.skipped]
    rejected = [RowIssue(path, issue.line, issue.reason) for issue in parsed.rejected]
    rejected += [RowIssue(path, parsed.bar_lines[r.index], r.reason) for r in rejections]
    report.rejected_rows = sorted(rejected, key=lambda issue: issue.line)
    report.skipped, report.rejected = len(report.skipped_rows), len(report.rejected_rows)
    series = _group_by_symbol(accepted)
    report.symbols = [one.symbol for one in series]
    known = load_symbols()
    report.notes += [f"{s} is not in the WIG20/mWIG40/sWIG80 table; stored as {s}" for s in report.symbols if s not in known]
    return report, series


async def _write(store: BarStore, report: FileReport, series: list[BarSeries]) -> None:
    if report.error or report.ignored or not series:
        return
    result = await store.append_many(series)
    report.stored, report.duplicates = result.stored, result.duplicates
    if result.duplicates:
        report.notes += await describe_conflicts(store, series, str(report.path))


async def describe_conflicts(store: BarStore, series: Sequence[BarSeries], source: str) -> list[str]:
    """Notes on already-stored bars whose prices differ from `series` (e.g. adjusted vs raw prices)."""
    notes = []
    for one in series:
        stored = await store.read_range(one.symbol, one.dates[0].item(), one.dates[-1].item())
        common, mine, theirs = np.intersect1d(one.dates, stored.dates, return_indices=True)
        differs = ~np.isclose(one.ohlcv[mine, :4], stored.ohlcv[theirs, :4], rtol=1e-6).all(axis=1)
        if differs.any():
            first = int(np.argmax(differs))
            notes.append(
                f"{one.symbol}: {int(differs.sum())} bars were already stored with other prices than in {source} "
                f"(e.g. {common[first]} close stored {stored.close[theirs[first]]:g}, "
                f"here {one.close[mine[first]]:g}); the stored bars were kept"
            )
    return notes


async def import_paths(
    paths: Sequence[Path],
    store: BarStore,
    *,
    strict: bool = False,
    today: datetime.date | None = None,
    progress: bool = False,
) -> ImportReport:
    """Import files and folders into `store`; see the module docstring for the accounting.
    progress: a tqdm bar per file, shown only when stderr is a terminal."""
    files = collect_files(paths)
    report = ImportReport([], strict=strict)
    if strict:
        plans = [plan_file(path, explicit, today) for path, explicit in files]
        report.files = [file_report for file_report, _ in plans]
        if not report.clean:
            _abort(report)
            return report
    report.files = []
    bar = tqdm(files, unit="file", desc="import", disable=None if progress else True, leave=False)
    for path, explicit in bar:
        file_report, series = plan_file(path, explicit, today)
        await _write(store, file_report, series)
        report.files.append(file_report)
        bar.set_postfix(stored=report.total("stored"), rejected=report.total("rejected"))
    return report


def _abort(report: ImportReport) -> None:
    """Strict import with rejections: nothing is written; each file's valid rows are held back, and a
    file without problems of its own says which files stopped it (their errors stay with them)."""
    report.aborted = True
    failed = [str(r.path) for r in report.files if r.error or r.rejected]
    named = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    for file_report in report.files:
        if file_report.ignored or file_report.error:
            continue
        file_report.stored = file_report.duplicates = 0
        file_report.not_written = file_report.rows_read - file_report.skipped - file_report.rejected
        if not file_report.rejected:
            file_report.notes.append(f"{file_report.path}: not written (--strict: rejections in {named})")
