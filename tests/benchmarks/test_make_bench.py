"""`make bench` runs every benchmark module that exists, each the regression gate knows among them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from benchmarks.regression import BENCHMARK_MODULES

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def bench_recipe_modules() -> list[str]:
    """The modules `make bench` runs with `python -m`, in order."""
    recipe = re.search(r"^bench: .*\n((?:\t.*\n)+)", MAKEFILE.read_text(), re.MULTILINE)
    assert recipe, "Makefile has no bench target"
    return re.findall(r"-m (benchmarks\.\w+)", recipe.group(1))


def test_make_bench_names_only_modules_that_exist():
    modules = bench_recipe_modules()
    assert modules
    assert [m for m in modules if importlib.util.find_spec(m) is None] == []


def test_make_bench_runs_every_benchmark_of_the_regression_gate():
    assert set(BENCHMARK_MODULES) <= set(bench_recipe_modules())
