"""The one typed configuration of a training run, with the `tiny`, `quick` and `full` profiles.

`TrainConfig.from_settings(settings, profile)` starts from the profile and takes the home, the store
URL and (for `full`) the optimiser settings from the `settings.Settings` it is given; a JSON file given with
`--config` overrides any field (nested sections by name, e.g. {"mgdl": {"width": 128}}); an
unknown key or a value of the wrong type is refused, named by its path (e.g. `mgdl.sed`).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from settings import Settings
from training.dataset import SplitConfig
from training.forecaster import ForecastLossConfig
from training.mgdl import MGDLConfig

PROFILES = ("tiny", "quick", "full")


@dataclass
class TrainConfig:
    profile: str = "quick"
    experiment: str = "mgdl"
    home: Path = Path("var")
    market_db_url: str | None = None
    symbols: list[str] | None = None  # None: every symbol in the store
    window: int = 256
    threads: int = 1  # small networks: one thread is as fast and keeps the machine free
    checkpoint_every: int = 5  # epochs between checkpoint_epoch_N.pth files
    synthetic_symbols: int = 80  # written into an empty store by the tiny/quick profiles
    synthetic_days: int = 800
    synthetic_seed: int = 7
    mgdl: MGDLConfig = field(default_factory=MGDLConfig)
    loss: ForecastLossConfig = field(default_factory=ForecastLossConfig)
    split: SplitConfig = field(default_factory=SplitConfig)

    @property
    def models_dir(self) -> Path:
        return Path(self.home) / "models"

    @property
    def seed(self) -> int:
        """The run's one seed (`mgdl.seed`): it seeds the grades and the global generators."""
        return self.mgdl.seed

    @classmethod
    def for_profile(cls, profile: str, **overrides: Any) -> TrainConfig:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        return apply_overrides(cls(profile=profile, **_PROFILE_FIELDS[profile]), overrides)

    @classmethod
    def from_settings(cls, settings: Settings, profile: str = "quick") -> TrainConfig:
        config = cls.for_profile(profile, home=Path(settings.home), market_db_url=settings.market_db_url)
        if profile == "full":
            config.window = settings.window
            config.mgdl = dataclasses.replace(config.mgdl, learning_rate=settings.learning_rate,
                                              batch_size=settings.batch_size, epochs_per_grade=settings.epochs,
                                              patience=settings.patience)
        elif profile == "quick":
            config.window = settings.window
        return config

    def as_dict(self) -> dict:
        data = asdict(self)
        data["home"] = str(self.home)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        # runs written before the seed lived only in `mgdl` saved a top-level "seed" that did nothing
        return apply_overrides(cls(), {key: value for key, value in data.items() if key != "seed"})


_PROFILE_FIELDS: dict[str, dict[str, Any]] = {
    # seconds: for test fixtures
    "tiny": {"window": 64, "synthetic_symbols": 6, "synthetic_days": 360, "checkpoint_every": 2,
             "mgdl": MGDLConfig(max_grades=2, width=16, epochs_per_grade=3, patience=3, batch_size=128,
                                learning_rate=3e-3)},
    # the embedded demo: 80 synthetic symbols x 800 days in at most 3 minutes on 2 cores. Chosen on the
    # validation loss only (docs/training.md, "Tuning"): a 3-epoch warm-up to 1e-3 and room to stop late
    # beat the earlier 2e-3 / 12 epochs / patience 3 on 5 of 6 seed x data runs; dropout, input noise,
    # weight decay, batch size and width did not improve it.
    "quick": {"mgdl": MGDLConfig(max_grades=3, width=64, epochs_per_grade=60, patience=8, batch_size=512,
                                 learning_rate=1e-3, warmup_epochs=3)},
    "full": {"mgdl": MGDLConfig(max_grades=4, width=128, epochs_per_grade=100, patience=10, batch_size=256,
                                learning_rate=1e-3, warmup_epochs=3)},
}


def apply_overrides(config: Any, overrides: dict, path: str = "") -> Any:
    """A copy of a dataclass with `overrides` applied; nested dataclasses take dicts. An unknown key or a
    value of the wrong type fails, naming the setting by its path (`mgdl.width`)."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for key, value in overrides.items():
        name = f"{path}{key}"
        if key not in fields:
            raise ValueError(_unknown_setting(config, path, key))
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and not isinstance(value, type(current)):
            if not isinstance(value, dict):
                raise ValueError(f"training setting {name!r} is a section: give it an object of settings, "
                                 f"got {value!r}")
            value = apply_overrides(current, value, f"{name}.")
        else:
            value = _typed_value(name, fields[key], current, value)
        changes[key] = value
    return dataclasses.replace(config, **changes)


def _unknown_setting(config: Any, path: str, key: str) -> str:
    known = sorted(f.name for f in dataclasses.fields(config))
    sections = [name for name in known if dataclasses.is_dataclass(getattr(config, name))]
    nested = [f"{path}{section}.{key}" for section in sections
              if key in {f.name for f in dataclasses.fields(getattr(config, section))}]
    similar = [f"{path}{name}" for name in difflib.get_close_matches(key, known, n=1)]
    hint = f"; did you mean {(nested + similar)[0]!r}?" if nested + similar else ""
    where = f"keys of {path[:-1]}" if path else "top-level keys"
    return f"unknown training setting {path + key!r}{hint} ({where}: {', '.join(known)})"


_ACCEPTED_TYPES: dict[type, tuple[type, ...]] = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}


def _typed_value(name: str, field: dataclasses.Field, current: Any, value: Any) -> Any:
    """`value` checked against the type of the setting's current value (scalars and paths)."""
    if value is None and "None" in str(field.type):
        return None
    setting_type = Path if isinstance(current, Path) else type(current)
    accepted = (str, Path) if setting_type is Path else _ACCEPTED_TYPES.get(setting_type)
    if accepted is None:  # a list, or an optional setting still at None
        return value
    if not isinstance(value, accepted) or (isinstance(value, bool) and setting_type is not bool):
        raise ValueError(f"training setting {name!r} must be {setting_type.__name__}, got {value!r}")
    return setting_type(value)


def load_config_file(path: Path, base: TrainConfig) -> TrainConfig:
    try:
        overrides = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from error
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: expected a JSON object of settings")
    try:
        return apply_overrides(base, overrides)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
