"""README's gateway rows come from a gateway_bench result: `--write` replaces exactly those two lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.gateway_bench import MIXED_ROW, ONE_ROW, readme_rows, write_rows

README = Path(__file__).resolve().parents[2] / "README.md"


def result(one_rate: float, one_cpu: float) -> dict:
    def row(load: str, rate: float, cpu: float) -> dict:
        return {"load": load, "requests_per_s": rate, "p50_ms": 4.0, "p99_ms": 9.0, "server_cpu_us_per_request": cpu}

    rows = [row("echo", 8000.0, 120.0), row("peer_mixed", 2000.0, 450.0), row("analyze_one", one_rate, one_cpu),
            row("analyze_mixed", 7000.0, 125.0)]
    return {"seconds": 6.0, "connections": 32, "symbols": 80, "redis": False, "gateway_access_log": True,
            "load_average": (1.5, 1.0, 1.0), "rows": rows,
            "ratios": {"analyze_one_vs_echo": one_rate / 8000.0, "analyze_mixed_vs_peer": 3.5}}


def test_the_rows_say_met_only_when_both_aims_are(tmp_path):
    met = readme_rows(result(7200.0, 150.0))[ONE_ROW]
    assert "7,200 vs 8,000 req/s (**0.90x**)" in met and "(1.25x)" in met and "(met)" in met
    assert "(**not met**)" in readme_rows(result(7200.0, 200.0))[ONE_ROW]  # CPU 1.67x the echo's
    assert "(**not met**)" in readme_rows(result(4000.0, 150.0))[ONE_ROW]  # 0.5x the echo


def test_write_replaces_the_two_gateway_rows_and_nothing_else(tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text(README.read_text())
    rows = readme_rows(result(7200.0, 150.0))
    write_rows(copy, rows)
    before, after = README.read_text().splitlines(), copy.read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == 2 and {new for _, new in changed} == set(rows.values())
    assert all(old.startswith((ONE_ROW, MIXED_ROW)) for old, _ in changed)
    with pytest.raises(ValueError, match="expected one line"):
        write_rows(tmp_path / "README.md", {"| no such row": "| x |"})
