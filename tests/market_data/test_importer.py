"""Importing files: accounting, idempotence, malformed files, --strict, and all of the real data."""

import datetime
from pathlib import Path

import pytest

from market_data.importer import COUNTS, import_paths
from tests.fixtures.requirements import requirement_missing
from tests.market_data.conftest import FIXTURES, REAL_DATA

FORMAT_FOLDERS = ["stooq_pl", "stooq_en", "stooq_bulk", "gpw_archive"]
MALFORMED = FIXTURES / "malformed"


def assert_accounted(report) -> None:
    totals = report.totals
    assert totals["rows_read"] == sum(totals[name] for name in COUNTS[1:])
    assert totals["rows_read"] == totals["stored"] + totals["duplicates"] + totals["skipped"] + totals["rejected"] \
        + totals["not_written"]
    assert report.balanced
    for file_report in report.files:  # every rejected row has its own path:line: reason
        assert file_report.rejected == len(file_report.rejected_rows)


async def test_every_format_imports_and_the_accounting_adds_up(embedded_store):
    report = await import_paths([FIXTURES / name for name in FORMAT_FOLDERS], embedded_store)
    assert_accounted(report)
    assert report.clean
    assert report.totals["rows_read"] == 5 * 300
    skipped = report.totals["skipped"]
    assert skipped > 0 and report.totals["stored"] == 1500 - skipped
    summary = await embedded_store.list_symbols()
    assert set(summary) == {"ABE", "WIG", "ACG", "AMC", "TOA"}
    assert summary["TOA"].rows == 300 - skipped
    assert all(issue.path.name == "TOYA.csv" and issue.line >= 2 for issue in report.issues())


async def test_importing_twice_stores_each_bar_once(any_store):
    paths = [FIXTURES / name for name in FORMAT_FOLDERS]
    first = await import_paths(paths, any_store)
    before = await any_store.list_symbols()
    second = await import_paths(paths, any_store)
    assert_accounted(second)
    assert second.totals["stored"] == 0
    assert second.totals["duplicates"] == first.totals["stored"]
    assert await any_store.list_symbols() == before


@pytest.mark.parametrize(
    ("name", "line", "reason_part"),
    [
        ("missing_column", 1, "missing column(s) najnizszy"),
        ("wrong_delimiter", 2, "expected 6 fields separated by ';', found 1 (wrong delimiter?)"),
        ("empty", 1, "empty file"),
        ("non_utf8", 5, "not UTF-8 text: byte 0xff"),
        ("bad_number", 8, "open is not a number: '6,04'"),
        ("duplicate_dates", 12, "repeated date 2021-04-06 for BIO (first at line 6)"),
    ],
)
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
async def test_malformed_files_name_file_and_line(embedded_store, name, line, reason_part, strict):
    await import_paths([FIXTURES / "stooq_pl" / "ABE.csv"], embedded_store)
    before = await embedded_store.list_symbols()
    path = MALFORMED / name / "BIO.csv"
    report = await import_paths([path], embedded_store, strict=strict)
    assert_accounted(report)
    assert not report.clean
    issue = report.issues()[0]
    assert (issue.path, issue.line) == (path, line)
    assert reason_part in issue.reason
    assert f"{path}:{line}: " in str(issue)
    file_level = name in {"missing_column", "empty", "non_utf8", "wrong_delimiter"}
    if strict or file_level:
        assert await embedded_store.list_symbols() == before
        assert report.totals["stored"] == 0
    else:  # the lenient import stores the good rows and reports the bad one
        assert report.totals["rejected"] == 1
        assert (await embedded_store.list_symbols())["BIO"].rows == report.totals["stored"]


async def test_strict_import_writes_nothing_when_any_file_has_a_rejection(embedded_store):
    paths = [FIXTURES / "stooq_pl" / "ABE.csv", MALFORMED / "bad_number" / "BIO.csv"]
    report = await import_paths(paths, embedded_store, strict=True)
    assert report.aborted and not report.clean
    assert_accounted(report)
    assert report.totals["rejected"] == 1 and report.totals["not_written"] == report.totals["rows_read"] - 1
    assert report.files[0].notes[-1] == f"{paths[0]}: not written (--strict: rejections in {paths[1]})"
    assert await embedded_store.list_symbols() == {}
    lenient = await import_paths(paths, embedded_store)
    assert lenient.totals["stored"] == 300 + 19


async def test_future_dates_are_rejected(embedded_store, tmp_path):
    path = tmp_path / "ABE.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,11,9,10.5,100\n")
    report = await import_paths([path], embedded_store, today=datetime.date(2024, 1, 2))
    assert report.totals == {"rows_read": 2, "stored": 1, "duplicates": 0, "skipped": 0, "rejected": 1,
                             "not_written": 0}
    assert "2024-01-03 is in the future" in report.issues()[0].reason


async def test_non_bar_files_in_folders_are_listed_as_ignored_but_named_ones_fail(embedded_store, tmp_path):
    (tmp_path / "members.csv").write_text("ticker,name,isin\nABE,AB,PLAB00000019\n")
    in_folder = await import_paths([tmp_path], embedded_store)
    assert in_folder.files[0].ignored and in_folder.clean
    named = await import_paths([tmp_path / "members.csv", tmp_path / "missing.csv"], embedded_store)
    assert "unrecognised header" in named.files[0].error.reason
    assert "cannot read" in named.files[1].error.reason


async def test_all_of_the_real_data_imports_with_the_accounting(embedded_store):
    if not REAL_DATA.is_dir():
        requirement_missing(f"real data folder {REAL_DATA} is absent, the full import is not tested")
    report = await import_paths([REAL_DATA], embedded_store)
    assert_accounted(report)
    assert report.clean, [str(issue) for issue in report.issues()[:5]]
    bar_files = [f for f in report.files if not f.ignored]
    assert {f.path.parent.name for f in report.files if f.ignored} == {"constituents"}
    expected_rows = sum(_data_lines(f.path) for f in bar_files)
    assert report.totals["rows_read"] == expected_rows
    summary = await embedded_store.list_symbols()
    assert {"AMC", "APT", "TOA", "WIG", "ABE", "ECH"} <= set(summary)
    assert sum(s.rows for s in summary.values()) == report.totals["stored"]
    # AMICA.csv (GPW archive) and stooq's AMC.csv are the same company: the overlap is counted once
    assert report.totals["duplicates"] > 0
    assert any("AMC:" in note for f in bar_files for note in f.notes)


def _data_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines()[1:] if line.strip())


async def test_strict_folder_with_one_bad_file_keeps_each_error_with_its_file(embedded_store, tmp_path):
    good = tmp_path / "ABE.csv"
    good.write_bytes((FIXTURES / "stooq_pl" / "ABE.csv").read_bytes())
    lines = (MALFORMED / "bad_number" / "BIO.csv").read_text().splitlines()[:9]  # line 8 has open '6,04'
    lines[2] = lines[2].replace(";", ";x", 1)  # line 3: a date that is not one
    lines[4] = lines[4].replace(";6.06;", ";5.0;")  # line 5: high below low
    lines[6] = lines[6].replace(";6.04;", ";-6.04;")  # line 7: a negative price
    bad = tmp_path / "BIO.csv"
    bad.write_text("\n".join(lines) + "\n")
    header_only = tmp_path / "XYZ.csv"
    header_only.write_text("Date;Open;High\n2024-01-02;1;2\n")
    report = await import_paths([tmp_path], embedded_store, strict=True)
    assert_accounted(report)
    by_name = {f.path.name: f for f in report.files}
    assert [issue.line for issue in by_name["BIO.csv"].rejected_rows] == [3, 5, 7, 8]
    assert by_name["BIO.csv"].not_written == 4 and by_name["BIO.csv"].rejected == 4
    assert by_name["ABE.csv"].not_written == 300 and by_name["ABE.csv"].rejected == 0
    assert by_name["ABE.csv"].notes == [f"{good}: not written (--strict: rejections in {bad}, {header_only})"]
    assert not any("not a number" in note or "header" in note for f in report.files for note in f.notes)
    error = by_name["XYZ.csv"].error
    assert error.line == 1 and "GPW archive" not in error.reason.split("formats tried")[0]
    assert "header 'Date;Open;High' (columns date, open, high, split on ';')" in error.reason
    assert "closest: stooq.com export (English header), missing column(s) close, low, volume" in error.reason
    assert "formats tried: stooq_bulk = ticker,per,date" in error.reason and "stooq_pl = data," in error.reason


NO_TRADE_FILES = {  # one bar, then days without trades as each format writes them
    "stooq_pl/ABE.csv": "Data;Otwarcie;Najwyzszy;Najnizszy;Zamkniecie;Wolumen\n2024-01-02;10;11;9;10.5;100\n"
                        "2024-01-03;0;10.5;10.5;10.5;0\n2024-01-04;0;0;0;10.5;0\n",
    "stooq_en/ACG.csv": "Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,0,0,0,0,0\n"
                        "2024-01-04,10.5,10.5,10.5,0,0\n",
    "stooq_bulk/amc.txt": "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n"
                          "AMC,D,20240102,000000,10,11,9,10.5,100,0\nAMC,D,20240103,000000,0,10,10,10,0,0\n"
                          "AMC,D,20240104,000000,0,0,0,10,0,0\n",
    "gpw_archive/TOYA.csv": "date,open,high,low,close,difference,volume,turnover,transactions\n"
                            "2024-01-02 00:00:00+00,10,11,9,10.5,0,100,1,1\n"
                            "2024-01-03 00:00:00+00,0,10.5,10.5,10.5,0,0,0,0\n"
                            "2024-01-04 00:00:00+00,0,0,0,10.5,0,0,0,0\n",
}


async def test_no_trade_days_of_every_format_are_skipped_and_a_strict_import_succeeds(embedded_store, tmp_path):
    for relative, text in NO_TRADE_FILES.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    report = await import_paths([tmp_path], embedded_store, strict=True, today=datetime.date(2024, 6, 1))
    assert_accounted(report)
    assert report.clean and not report.aborted
    assert report.totals == {"rows_read": 12, "stored": 4, "duplicates": 0, "skipped": 8, "rejected": 0,
                             "not_written": 0}
    assert {issue.line for issue in report.issues()} == {3, 4}
    assert all(issue.reason.startswith("no-trade day (volume 0, ") for issue in report.issues())


async def test_a_price_that_overflows_float32_is_rejected_with_file_line_and_reason(embedded_store, tmp_path):
    path = tmp_path / "ABE.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,1e300,9,10.5,100\n")
    report = await import_paths([path], embedded_store, strict=True, today=datetime.date(2024, 6, 1))
    assert report.aborted and await embedded_store.list_symbols() == {}
    assert [str(issue) for issue in report.errors()] == [
        f"{path}:3: price high 1e+300 does not fit float32 (the model's input): accepted 1e-06..1e+09"]
