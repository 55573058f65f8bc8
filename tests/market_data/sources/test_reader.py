"""Each supported format, read from real rows, and format detection."""

import datetime

import pytest

from market_data.bars import Bar
from market_data.sources import FormatError, detect_format, read_bar_file
from tests.market_data.conftest import FIXTURES


@pytest.mark.parametrize(
    ("relative", "format_name", "symbol", "rows", "first"),
    [
        ("stooq_pl/ABE.csv", "stooq_pl", "ABE", 300, Bar("ABE", datetime.date(2019, 2, 13), 18.9117, 18.9117, 18.4652, 18.4652, 1290.9624299161)),
        ("stooq_pl/wig_d.csv", "stooq_pl", "WIG", 300, None),
        ("stooq_en/ACG.csv", "stooq_en", "ACG", 300, Bar("ACG", datetime.date(2020, 7, 3), 31.3412, 31.5707, 30.7288, 31.4937, 1336.3888889321)),
        ("stooq_bulk/amc.txt", "stooq_bulk", "AMC", 300, Bar("AMC", datetime.date(2021, 9, 3), 142.524, 142.524, 138.782, 140.207, 4024.5986793073)),
        ("gpw_archive/TOYA.csv", "gpw_archive", "TOA", 300, None),
    ],
)
def test_reads_real_rows_of_each_format(relative, format_name, symbol, rows, first):
    parsed = read_bar_file(FIXTURES / relative)
    assert parsed.format_name == format_name
    assert parsed.rows_read == rows
    assert parsed.rejected == []
    assert {bar.symbol for bar in parsed.bars} == {symbol}
    assert len(parsed.bars) + len(parsed.skipped) == rows
    assert parsed.bar_lines[0] >= 2
    if first is not None:
        assert parsed.bars[0] == first


def test_gpw_archive_no_trade_days_are_skipped_with_their_lines():
    parsed = read_bar_file(FIXTURES / "gpw_archive/TOYA.csv")
    assert [issue.line for issue in parsed.skipped[:2]] == [5, 6]  # "2011-09-14 ...,0,0,0,2.72,0,0,0,0"
    assert "no-trade day" in parsed.skipped[0].reason
    assert parsed.bars[0].date == datetime.date(2011, 9, 9)


@pytest.mark.parametrize(
    ("header", "format_name", "delimiter"),
    [
        ("Data;Otwarcie;Najwyzszy;Najnizszy;Zamkniecie;Wolumen", "stooq_pl", ";"),
        ("Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie,Wolumen\r\n", "stooq_pl", ","),
        ("\ufeffDate,Open,High,Low,Close,Volume", "stooq_en", ","),
        ("<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>", "stooq_bulk", ","),
        ("date,open,high,low,close,difference,volume,turnover,transactions", "gpw_archive", ","),
    ],
)
def test_detects_each_format_from_its_header(header, format_name, delimiter):
    detected = detect_format(header)
    assert (detected.format.name, detected.delimiter) == (format_name, delimiter)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Data;Otwarcie;Najwyzszy;Zamkniecie;Wolumen", "missing column(s) najnizszy"),
        ("Data|Otwarcie|Najwyzszy|Najnizszy|Zamkniecie|Wolumen", "uses delimiter '|'"),
        ("ticker,name,isin", "unrecognised header"),
    ],
)
def test_unusable_headers_fail_on_line_1(header, message):
    with pytest.raises(FormatError, match=message.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")) as error:
        detect_format(header)
    assert error.value.line == 1


def test_bulk_rows_of_other_periods_are_rejected(tmp_path):
    path = tmp_path / "abe.txt"
    path.write_text("<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n"
                    "ABPL,D,20240102,000000,10,11,9,10.5,100,0\n"
                    "ABE,W,20240105,000000,10,11,9,10.5,100,0\n")
    parsed = read_bar_file(path)
    assert [bar.symbol for bar in parsed.bars] == ["ABE"]  # the GPW short name maps to the ticker
    assert parsed.rejected[0].line == 3 and "<PER> is 'W'" in parsed.rejected[0].reason
