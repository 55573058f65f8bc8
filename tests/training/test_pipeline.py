"""A tiny end-to-end run on synthetic bars: every artifact, baselines in the report, round trips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from training import artifacts
from training.checkpoint import load_forecaster
from training.config import TrainConfig, load_config_file
from training.pipeline import FINAL_MODEL, evaluate_run, resume_run, train_run
from wig80 import cli

EXPECTED_FILES = ("best_model.pth", "final_model.pth", "training_history.json", "training_curves.png",
                  "model_metadata.json", "training_report.md", "calibration.png")
BASELINES = ("random_walk", "always_up", "one_day_reversal", "ridge", "single_grade")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    return train_run(TrainConfig.for_profile("tiny", home=home, experiment="tinytest"))


def test_run_directory_holds_every_artifact(tiny_run: Path) -> None:
    assert tiny_run.parent.name == "models" and tiny_run.name.startswith("tinytest_")
    for name in EXPECTED_FILES:
        assert (tiny_run / name).stat().st_size > 0, name
    assert sorted(tiny_run.glob("checkpoint_epoch_*.pth"))
    history = json.loads((tiny_run / artifacts.HISTORY_FILE).read_text())
    assert history["mgdl"] and history["single_grade"] and history["grades"][0]["accepted"]


def test_report_puts_every_baseline_beside_the_model(tiny_run: Path) -> None:
    report = (tiny_run / artifacts.REPORT_FILE).read_text()
    for row in ("mgdl", *BASELINES):
        assert f"| {row} |" in report, row
    assert "Per-grade contribution" in report and "calibration.png" in report
    metadata = json.loads((tiny_run / artifacts.METADATA_FILE).read_text())
    test_metrics = metadata["metrics"]["test"]
    assert set(BASELINES) | {"mgdl"} <= test_metrics.keys()
    rows = {name: m["rows"] for name, m in test_metrics.items()}
    assert len(set(rows.values())) == 1  # every model on the same rows
    assert 0.0 <= test_metrics["mgdl"]["directional_accuracy"]["h1"] <= 1.0


def test_load_forecaster_round_trip(tiny_run: Path) -> None:
    model, metadata = load_forecaster(tiny_run)
    assert {"run", "feature_names", "window", "horizons", "metrics"} <= metadata.keys()
    assert metadata["run"] == tiny_run.name and metadata["horizons"] == 30 and metadata["window"] == 64
    features = torch.randn(3, len(metadata["feature_names"]))
    mean, std = model(features)
    assert mean.shape == std.shape == (3, 30) and (std > 0).all()
    final, _ = load_forecaster(tiny_run / FINAL_MODEL)
    torch.testing.assert_close(final(features), (mean, std))


def test_resume_from_a_checkpoint_reproduces_the_run(tiny_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models" / tiny_run.name
    shutil.copytree(tiny_run, copy)
    (copy / "best_model.pth").unlink()
    resumed = resume_run(copy / "checkpoint_epoch_2.pth")
    assert resumed == copy
    original, _ = load_forecaster(tiny_run)
    again, _ = load_forecaster(resumed)
    for (name, a), (_, b) in zip(original.state_dict().items(), again.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_evaluate_recomputes_the_report(tiny_run: Path) -> None:
    report = tiny_run / artifacts.REPORT_FILE
    before = report.read_text()
    report.write_text("stale")
    home = tiny_run.parent.parent
    assert evaluate_run(tiny_run, None, home) == report
    after = report.read_text()
    # the same split, metrics and baselines (only the data source line may word itself differently)
    assert after[after.index("| split |"):] == before[before.index("| split |"):]


def test_cli_train_prints_the_run_directory_last(tmp_path: Path, monkeypatch, capsys, registry_env) -> None:
    monkeypatch.setenv("WIG80_HOME", str(tmp_path))
    config_file = tmp_path / "override.json"
    config_file.write_text(json.dumps({"mgdl": {"max_grades": 1, "epochs_per_grade": 1}}))
    assert cli.main(["train", "--profile", "tiny", "--config", str(config_file), "--experiment", "cli"]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert run_dir.is_dir() and run_dir.name.startswith("cli_") and run_dir.parent == tmp_path / "models"
    _, metadata = load_forecaster(run_dir)
    assert metadata["config"]["mgdl"]["max_grades"] == 1
    with registry_env.client() as registry:  # `wig80 train` registers the run
        assert [r["run"] for r in registry.records("training_runs")] == [run_dir.name]


def test_bad_config_file_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "mgdl": {"width": 8},\n  oops\n}')
    with pytest.raises(ValueError, match=r"bad\.json:3"):
        load_config_file(bad, TrainConfig())
    bad.write_text('{"no_such_setting": 1}')
    with pytest.raises(ValueError, match="no_such_setting"):
        load_config_file(bad, TrainConfig())


def test_unknown_symbol_is_a_clear_error(tiny_run: Path) -> None:
    config = TrainConfig.for_profile("tiny", home=tiny_run.parent.parent, symbols=["NOPE"])
    with pytest.raises(ValueError, match="NOPE"):
        train_run(config)


def test_evaluate_uses_the_split_dates_stored_with_the_run(tiny_run: Path, tmp_path: Path) -> None:
    """With more bars stored since training, a fresh split would move training rows into the test."""
    import asyncio

    from market_data.stores import open_store
    from market_data.synthetic import synthesize

    trained = json.loads((tiny_run / artifacts.METADATA_FILE).read_text())
    config = trained["config"]
    longer = synthesize(config["synthetic_symbols"], config["synthetic_days"] + 120, config["synthetic_seed"])

    async def fill() -> None:
        async with open_store(None, tmp_path / "home") as store:
            await store.append_many(longer)

    asyncio.run(fill())
    run = tmp_path / "models" / tiny_run.name
    shutil.copytree(tiny_run, run)
    evaluate_run(run, None, tmp_path / "home")
    evaluated = json.loads((run / artifacts.METADATA_FILE).read_text())
    assert evaluated["split"] == trained["split"]  # a fresh split of 480 days would end 120 days later


def test_cli_evaluate_prints_the_distribution_headline_then_the_report(tiny_run: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WIG80_HOME", str(tiny_run.parent.parent))
    assert cli.main(["evaluate", str(tiny_run)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(tiny_run / artifacts.REPORT_FILE)
    assert "Test, horizon 1:" in lines
    for row in ("| mgdl |", "| linear_grade |", "| constant |", "| ewma |", "| rolling_20 |", "| garch |",
                "| mgdl vs random walk |", "| mgdl vs ridge |"):
        assert any(line.startswith(row) for line in lines), row
    report = (tiny_run / artifacts.REPORT_FILE).read_text()
    assert report.index("Forecast distribution on test") < report.index("Detail: calibration")
