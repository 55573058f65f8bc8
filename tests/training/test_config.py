"""TrainConfig overrides: every key of a --config file is a real setting of the right type, or an error
that names it by its path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.config import TrainConfig, load_config_file
from wig80 import cli


def load(tmp_path: Path, overrides: object) -> TrainConfig:
    path = tmp_path / "train.json"
    path.write_text(json.dumps(overrides))
    return load_config_file(path, TrainConfig.for_profile("tiny"))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"seed": 1}, r"unknown training setting 'seed'; did you mean 'mgdl\.seed'\?"),
    ({"mgdl": {"sed": 1}}, r"unknown training setting 'mgdl\.sed'; did you mean 'mgdl\.seed'\?.*keys of mgdl: "),
    ({"split": {"purge": 5}}, r"'split\.purge'; did you mean 'split\.purge_days'"),
    ({"nonsense": 1}, r"unknown training setting 'nonsense' \(top-level keys: checkpoint_every, "),
    ({"mgdl": 64}, r"'mgdl' is a section: give it an object of settings, got 64"),
    ({"mgdl": {"width": "128"}}, r"'mgdl\.width' must be int, got '128'"),
    ({"mgdl": {"width": True}}, r"'mgdl\.width' must be int, got True"),
    ({"mgdl": {"show_progress": 1}}, r"'mgdl\.show_progress' must be bool, got 1"),
    ({"window": None}, r"'window' must be int, got None"),
])
def test_unknown_keys_and_wrong_types_are_refused_with_their_path(tmp_path: Path, overrides: dict,
                                                                  message: str) -> None:
    with pytest.raises(ValueError, match=rf"train\.json: .*{message}"):
        load(tmp_path, overrides)


def test_known_keys_apply_with_their_types(tmp_path: Path) -> None:
    config = load(tmp_path, {"mgdl": {"seed": 3, "learning_rate": 1, "width": 8}, "home": "/tmp/elsewhere",
                             "market_db_url": None, "symbols": ["ABE"]})
    assert config.mgdl.seed == config.seed == 3
    assert config.mgdl.learning_rate == 1.0 and isinstance(config.mgdl.learning_rate, float)
    assert config.mgdl.width == 8 and config.home == Path("/tmp/elsewhere") and config.symbols == ["ABE"]
    assert config.mgdl.max_grades == TrainConfig.for_profile("tiny").mgdl.max_grades  # the rest untouched


def test_saved_config_round_trips_and_a_legacy_top_level_seed_is_ignored() -> None:
    config = TrainConfig.for_profile("tiny")
    saved = json.loads(json.dumps(config.as_dict()))
    assert "seed" not in saved and TrainConfig.from_dict(saved) == config
    assert TrainConfig.from_dict({**saved, "seed": 0}) == config  # written by runs before mgdl.seed alone


def test_cli_train_exits_2_naming_the_file_and_the_key(tmp_path: Path, capsys) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"mgdl": {"widht": 8}}))
    assert cli.main(["train", "--profile", "tiny", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert f"wig80 train: {path}: unknown training setting 'mgdl.widht'; did you mean 'mgdl.width'?" in error


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    section = doc[doc.index("## Config file"):]
    example = json.loads(section[section.index("```json") + len("```json"):section.index("```\n", 10)])
    config = load(tmp_path, example)
    assert config.mgdl.seed == 1 and config.window == 128 and config.split.train_fraction == 0.6
