"""`wig80 data synth | import | info` through the real CLI entry point."""

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.market_data.conftest import FIXTURES
from wig80.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WIG80_HOME", str(tmp_path))
    monkeypatch.delenv("MARKET_DB_URL", raising=False)
    monkeypatch.delenv("WIG80_MARKET_DB_URL", raising=False)
    return tmp_path


def info_json(capsys) -> dict:
    capsys.readouterr()
    assert main(["data", "info", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_synth_then_info(home, capsys):
    assert main(["data", "synth", "--symbols", "3", "--days", "60", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "synthesized 3 symbols x 60 trading days (seed 4)" in out and "3 symbols" in out
    summary = info_json(capsys)
    assert list(summary) == ["1AT", "ABE", "ABS"]
    assert set(summary["ABE"]) == {"rows", "first", "last"} and summary["ABE"]["last"] == "2025-12-31"
    assert (home / "data" / "bars.sqlite3").is_file()


def test_import_reports_accounting_and_exit_code(home, capsys):
    assert main(["data", "import", str(FIXTURES / "stooq_pl"), str(FIXTURES / "gpw_archive")]) == 0
    out = capsys.readouterr().out
    assert "rows read 900 = stored" in out and "TOYA.csv:5: no-trade day" in out
    assert info_json(capsys)["ABE"]["rows"] == 300

    bad = FIXTURES / "malformed" / "bad_number" / "BIO.csv"
    assert main(["data", "import", "--strict", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:8: open is not a number" in out and "nothing was written" in out
    assert "BIO" not in info_json(capsys)


def test_import_json_report(home, capsys):
    assert main(["data", "import", "--json", str(FIXTURES / "stooq_en")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"] == {"rows_read": 300, "stored": 300, "duplicates": 0, "skipped": 0, "rejected": 0,
                                "not_written": 0}


@pytest.mark.postgres
def test_market_db_url_selects_postgres(home, capsys, monkeypatch, postgres_url):
    from market_data.stores import open_store

    url = f"{postgres_url}?table=wig80_cli_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("MARKET_DB_URL", url)
    try:
        assert main(["data", "synth", "--symbols", "2", "--days", "30", "--seed", "1"]) == 0
        assert "PostgreSQL at 127.0.0.1" in capsys.readouterr().out
        assert {s["rows"] for s in info_json(capsys).values()} <= {29, 30}
    finally:
        import asyncio

        async def drop() -> None:
            async with open_store(url, home) as store:
                await store.drop_table()

        asyncio.run(drop())


def test_strict_import_prints_every_rejected_row_and_no_foreign_error(home, tmp_path, capsys):
    folder = tmp_path / "bars"
    folder.mkdir()
    good = folder / "ABE.csv"
    good.write_bytes((FIXTURES / "stooq_pl" / "ABE.csv").read_bytes())
    bad = folder / "BIO.csv"
    rows = [f"2021-03-{day:02d};5.4;5.3;5.5;5.4;100" for day in range(1, 31)]  # high below low
    bad.write_text("Data;Otwarcie;Najwyzszy;Najnizszy;Zamkniecie;Wolumen\n" + "\n".join(rows) + "\n")
    assert main(["data", "import", "--strict", str(folder)]) == 1
    out = capsys.readouterr().out
    rejected = [line for line in out.splitlines() if line.strip().startswith(f"{bad}:")]
    assert [line.split(":")[1] for line in rejected] == [str(n) for n in range(2, 32)]
    assert all("high 5.3 is below open/close/low" in line for line in rejected)
    assert f"{good}: not written (--strict: rejections in {bad})" in out
    assert "rejected 30 + not written (unwr) 300" in out and "nothing was written" in out


def test_import_log_file_holds_lines_not_carriage_returns(home, tmp_path):
    log_file = tmp_path / "import.log"
    env = {k: v for k, v in os.environ.items() if "MARKET_DB_URL" not in k} | {"WIG80_HOME": str(home)}
    with open(log_file, "wb") as log:
        result = subprocess.run([sys.executable, "-m", "wig80.cli", "data", "import", str(FIXTURES / "stooq_pl")],
                                stdout=log, stderr=subprocess.STDOUT, env=env, timeout=120)
    text = log_file.read_bytes()
    assert result.returncode == 0, text
    assert b"\r" not in text and b"rows read 600 = stored 600" in text
