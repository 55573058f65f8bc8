"""The retraining schedule fires (a cron of seconds) in a lower-priority child; overlapping runs do not both train."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifecycle.repository_lock import repository_lock
from lifecycle.scheduler import RETRAIN_NICENESS, RetrainSchedule, cron_trigger
from wig80.commands.model_lifecycle import EXIT_BUSY

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RECORD_NICENESS = "import os, sys; open(sys.argv[1], 'a').write(f'{os.nice(0)}\\n')"


def test_a_cron_of_seconds_fires_the_command_in_a_lower_priority_child(tmp_path):
    record = tmp_path / "fired"
    schedule = RetrainSchedule("* * * * * *", command=[sys.executable, "-c", RECORD_NICENESS, str(record)]).start()
    try:
        deadline = time.monotonic() + 15
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        schedule.stop()
    assert record.exists(), "the schedule did not fire within 15 s"
    niceness = int(record.read_text().splitlines()[0])
    assert niceness == min(os.nice(0) + RETRAIN_NICENESS, 19)


def test_a_bad_cron_expression_is_refused_naming_it():
    with pytest.raises(ValueError, match="has 3 fields"):
        cron_trigger("0 2 *")


def test_a_second_retraining_while_one_runs_does_not_train(registry_env, tmp_path):
    """The lock is what a running `wig80 retrain` holds; a second one (scheduled or by hand) stops at it."""
    env = {**os.environ, **registry_env.env, "WIG80_HOME": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)}
    with repository_lock(tmp_path, "retrain"):
        second = subprocess.run([sys.executable, "-m", "wig80.cli", "retrain"], env=env, cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=120)
    assert second.returncode == EXIT_BUSY, second.stderr
    assert "another retrain" in second.stderr and "holds the repository lock" in second.stderr
    assert not (tmp_path / "models").exists()  # it trained nothing
    with registry_env.client() as registry:
        registry.ensure_collections()
        assert registry.records("evaluations") == []


def test_wig80_serve_refuses_a_bad_retrain_cron_before_starting_anything(tmp_path):
    env = {**os.environ, "WIG80_HOME": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run([sys.executable, "-m", "wig80.cli", "serve", "--retrain-cron", "0 2 *"], env=env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--retrain-cron" in result.stderr and "3 fields" in result.stderr
    assert not (tmp_path / "pocketbase").exists()


def test_rollback_to_an_unregistered_version_is_refused_naming_it(registry_env, tmp_path, capsys, monkeypatch):
    from wig80.cli import main as wig80_main

    monkeypatch.setenv("WIG80_HOME", str(tmp_path))
    assert wig80_main(["rollback", "9"]) == 1
    assert "version 9 is not in the registry" in capsys.readouterr().err
