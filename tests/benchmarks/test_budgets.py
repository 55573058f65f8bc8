"""The load test's budget check, on statistics rows and on a Locust CSV file."""

from pathlib import Path

import pytest

from benchmarks.budgets import EndpointStats, load_budgets, missed_budgets, rows_from_csv

BUDGETS = """
[defaults]
p95_ms = 100
p99_ms = 200
failure_ratio = 0.01

["POST /analyze [cached]"]
p95_ms = 8
p99_ms = 10
"""


def _budgets(tmp_path: Path) -> Path:
    path = tmp_path / "budgets.toml"
    path.write_text(BUDGETS)
    return path


def test_committed_budgets_cover_every_request_type():
    _, budgets = load_budgets()
    assert {"POST /analyze [uncached]", "POST /analyze [cached]", "POST /batch_analyze", "GET /spectrum",
            "WS prediction push", "gRPC wig80"} <= set(budgets)
    assert budgets["POST /analyze [cached]"]["p95_ms"] <= 10
    assert budgets["POST /analyze [uncached]"]["p99_ms"] <= 50


def test_fast_run_meets_budgets(tmp_path):
    rows = [EndpointStats("POST /analyze [cached]", 200, 0, 4, 6)]
    assert missed_budgets(rows, _budgets(tmp_path)) == []


def test_slow_tail_is_named(tmp_path):
    missed = missed_budgets([EndpointStats("POST /analyze [cached]", 200, 0, 7, 40)], _budgets(tmp_path))
    assert missed == ["POST /analyze [cached]: p99 40 ms > budget 10 ms"]


def test_failures_above_the_ratio_are_named_and_defaults_apply(tmp_path):
    rows = [EndpointStats("POST /analyze [cached]", 200, 0, 4, 6), EndpointStats("GET /elsewhere", 50, 5, 20, 30)]
    assert missed_budgets(rows, _budgets(tmp_path)) == ["GET /elsewhere: failure ratio 0.1000 > budget 0.01"]


def test_a_budgeted_type_missing_from_the_run_is_a_miss(tmp_path):
    missed = missed_budgets([EndpointStats("GET /elsewhere", 50, 0, 20, 30)], _budgets(tmp_path))
    assert missed == ["POST /analyze [cached]: no requests in this run"]


def test_a_budgeted_type_without_requests_is_a_miss(tmp_path):
    missed = missed_budgets([EndpointStats("POST /analyze [cached]", 0, 0, 0, 0)], _budgets(tmp_path))
    assert missed == ["POST /analyze [cached]: no requests in this run"]


def test_a_run_of_chosen_user_classes_is_judged_on_what_it_measured(tmp_path):
    rows = [EndpointStats("GET /elsewhere", 50, 0, 20, 30)]
    assert missed_budgets(rows, _budgets(tmp_path), every_type=False) == []


def test_the_command_fails_on_a_csv_lacking_a_budgeted_type(tmp_path, capsys):
    from benchmarks.budgets import main

    csv_path = tmp_path / "load_stats.csv"
    csv_path.write_text("Type,Name,Request Count,Failure Count,Median Response Time,95%,99%\n"
                        "GET,GET /spectrum,100,0,3,7,12\n")
    assert main([str(csv_path)]) == 1
    assert "POST /analyze [cached]: no requests in this run" in capsys.readouterr().out


def test_rows_from_locust_csv(tmp_path):
    csv_path = tmp_path / "load_stats.csv"
    csv_path.write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,95%,99%\n"
        "POST,POST /analyze [cached],100,1,3,7,12\n"
        ",Aggregated,100,1,3,7,12\n")
    rows = rows_from_csv(csv_path)
    assert rows == [EndpointStats("POST /analyze [cached]", 100, 1, 7.0, 12.0)]
    assert missed_budgets(rows, _budgets(tmp_path)) == ["POST /analyze [cached]: p99 12 ms > budget 10 ms"]


def test_the_heavy_scenario_is_judged_by_its_own_budgets():
    defaults, heavy = load_budgets(scenario="heavy")
    _, default = load_budgets()
    assert set(heavy) == set(default)  # every request type has a budget under the heavier load too
    row = [EndpointStats("POST /analyze [cached]", 100, 0, 15.0, 30.0)]
    assert missed_budgets(row, every_type=False) == [
        "POST /analyze [cached]: p95 15 ms > budget 10 ms", "POST /analyze [cached]: p99 30 ms > budget 10 ms"]
    assert missed_budgets(row, every_type=False, scenario="heavy") == []
    with pytest.raises(ValueError, match="no \\[scenario.nosuch\\]"):
        load_budgets(scenario="nosuch")
