"""The training report's analogue section: scored on the model's own test rows, from an index before them."""

from __future__ import annotations

import json
import math


def test_the_training_report_scores_the_analogues_on_the_models_test_rows(tiny_run):
    summary = json.loads((tiny_run.run_dir / "model_metadata.json").read_text())
    metrics = summary["metrics"]
    analogues = metrics["analogues"]
    assert analogues["test"]["rows"] == metrics["test"]["mgdl"]["rows"]
    assert analogues["test"]["rows_without_analogues"] == 0
    assert analogues["index"]["last_date"] < summary["split"]["test"][0]
    for horizon in ("h1", "h5", "h30"):
        assert math.isfinite(analogues["test"]["distribution"][horizon]["nll"])
    report = (tiny_run.run_dir / "training_report.md").read_text()
    assert "## Historical analogues baseline" in report
    assert f"| test | 1 | {analogues['test']['distribution']['h1']['nll']:.4f} |" in report
