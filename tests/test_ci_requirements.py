"""A missing service fails the test under CI=true and skips it, naming the service, elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.requirements import requirement_missing
from tests.fixtures.services import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NEEDS_REDIS = "def test_needs_redis(redis_url):\n    assert redis_url\n"


def run_with_redis_down(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    """pytest, in a child, on a test that needs Redis, pointed at a port where nothing listens."""
    test_file = tmp_path / "test_needs_redis.py"
    test_file.write_text(NEEDS_REDIS)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT),
           "WIG80_TEST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.fixtures.services", "-q", "-rs", "-p", "no:cacheprovider",
         str(test_file)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_under_ci_a_missing_redis_is_a_failure(tmp_path):
    result = run_with_redis_down(tmp_path, ci="true")
    assert result.returncode != 0, result.stdout
    assert "1 error" in result.stdout and "Redis is not reachable" in result.stdout
    assert "CI=true" in result.stdout


def test_elsewhere_a_missing_redis_skips_naming_it(tmp_path):
    result = run_with_redis_down(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout and "Redis is not reachable" in result.stdout


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("TRUE", pytest.fail.Exception),
                                             ("", pytest.skip.Exception), ("false", pytest.skip.Exception)])
def test_requirement_missing_fails_only_under_ci(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="the thing"):
        requirement_missing("the thing is missing")


@pytest.mark.parametrize(("ci", "outcome"), [(None, "1 skipped"), ("true", "1 error")])
def test_a_module_missing_an_import_skips_whole_or_fails_under_ci(tmp_path, ci, outcome):
    test_file = tmp_path / "test_needs_a_module.py"
    test_file.write_text("from tests.fixtures.requirements import requirement_missing\n"
                         "try:\n    import no_such_module_here\nexcept ImportError:\n"
                         "    requirement_missing('no_such_module_here is not installed')\n"
                         "def test_uses_it():\n    assert no_such_module_here\n")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("CI", None)
    env.update({"CI": ci} if ci else {})
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test_file)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert outcome in result.stdout and "no_such_module_here is not installed" in result.stdout, result.stdout
