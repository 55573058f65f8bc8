"""Latency budgets of the load test (`budgets.toml`) and the check of a run against them.

Kept apart from the locustfile so that it imports no Locust (whose gevent patching must not run
inside pytest) and can also judge a finished run from Locust's CSV:
    python -m benchmarks.budgets benchmarks/results/load_stats.csv [--scenario heavy]
"""

from __future__ import annotations

import csv
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

BUDGETS_PATH = Path(__file__).with_name("budgets.toml")


@dataclass(frozen=True)
class EndpointStats:
    name: str
    requests: int
    failures: int
    p95_ms: float
    p99_ms: float

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def load_budgets(path: Path = BUDGETS_PATH, scenario: str | None = None) -> tuple[dict, dict[str, dict]]:
    """(defaults, budget per request name) of the default load, or of `scenario` (a `[scenario.NAME]`
    table with its own request names and optional `defaults`, over the file's defaults)."""
    raw = tomllib.loads(path.read_text())
    scenarios = raw.pop("scenario", {})
    defaults = raw.pop("defaults")
    if scenario is not None:
        if scenario not in scenarios:
            raise ValueError(f"{path} has no [scenario.{scenario}] budgets (it has: {', '.join(scenarios) or 'none'})")
        raw = dict(scenarios[scenario])
        defaults = {**defaults, **raw.pop("defaults", {})}
    return defaults, {name: {**defaults, **budget} for name, budget in raw.items()}


def missed_budgets(rows: list[EndpointStats], path: Path = BUDGETS_PATH, *, every_type: bool = True,
                   scenario: str | None = None) -> list[str]:
    """Every budget the run missed, one readable line each; names without a budget use the defaults.

    With `every_type` (a full run), a request type of the budgets file that the run lacks, or that
    got no request, is a miss too: a run that silently stopped measuring something cannot pass.
    """
    defaults, budgets = load_budgets(path, scenario)
    measured = {row.name for row in rows if row.requests > 0}
    missed = [f"{name}: no requests in this run" for name in budgets if every_type and name not in measured]
    for row in rows:
        if row.requests == 0:
            continue
        budget = budgets.get(row.name, defaults)
        for key, measured in (("p95_ms", row.p95_ms), ("p99_ms", row.p99_ms)):
            if measured > budget[key]:
                missed.append(f"{row.name}: {key[:3]} {measured:.0f} ms > budget {budget[key]} ms")
        if row.failure_ratio > budget["failure_ratio"]:
            missed.append(f"{row.name}: failure ratio {row.failure_ratio:.4f} > budget {budget['failure_ratio']}")
    return missed


def rows_from_csv(path: Path) -> list[EndpointStats]:
    """Locust's `<prefix>_stats.csv`, without its Aggregated line."""
    with path.open(newline="") as handle:
        return [EndpointStats(row["Name"], int(row["Request Count"]), int(row["Failure Count"]),
                              float(row["95%"] or 0), float(row["99%"] or 0))
                for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]


def main(argv: list[str]) -> int:
    scenario = argv[argv.index("--scenario") + 1] if "--scenario" in argv[:-1] else None
    paths = [a for i, a in enumerate(argv) if a != "--scenario" and (i == 0 or argv[i - 1] != "--scenario")]
    if len(paths) != 1:
        print("usage: python -m benchmarks.budgets STATS_CSV [--scenario NAME]", file=sys.stderr)
        return 2
    missed = missed_budgets(rows_from_csv(Path(paths[0])), scenario=scenario)
    for line in missed:
        print(f"BUDGET MISSED  {line}")
    print("all latency budgets met" if not missed else f"{len(missed)} budgets missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
