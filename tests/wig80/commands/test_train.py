"""`wig80 train` with its output sent to a log file: whole lines, no progress-bar carriage returns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_train_log_file_holds_lines_not_carriage_returns(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "MARKET_DB_URL" not in k} | {"WIG80_HOME": str(tmp_path)}
    log_file = tmp_path / "train.log"
    with open(log_file, "wb") as log:
        result = subprocess.run([sys.executable, "-m", "wig80.cli", "train", "--profile", "tiny"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, timeout=300)
    text = log_file.read_bytes()
    assert result.returncode == 0, text.decode(errors="replace")[-2000:]
    assert b"\r" not in text
    lines = text.decode().splitlines()
    assert len(lines) > 2  # the pipeline's progress lines, then the run directory
    assert Path(lines[-1]).is_dir() and Path(lines[-1]).parent == tmp_path / "models"
