"""Multi-Grade Deep Learning (Xu 2023, arXiv:2302.00150; Fang & Xu, NeurIPS 2024, arXiv:2410.16105).

A deep network is trained grade by grade. Grade 1 is a shallow network on the input; grade k is a
fresh shallow network whose input is the last hidden features of grade k-1 (earlier grades frozen)
and whose head learns what the earlier heads left over. The prediction is the sum of all heads.
A grade is kept only if it lowers the validation loss; the first grade that does not ends training.

Grade k minimises `loss(base + head_k, y)` where `base` is the frozen sum of the earlier heads: for
the squared error this is exactly fitting the residual `y - base`, and the same code serves any loss
on the summed output (the forecaster's Gaussian NLL sums means and log-variance corrections alike).

`StandardRegressor` is the single-grade baseline: the same total depth and width, one head, trained
end to end on the same budget of epochs x trainable parameters, so the two can be compared on spectral
bias outside finance.

`MGDLConfig()`'s defaults are the configuration that wins the papers' task (benchmarks/mgdl_sines_bench.py:
24 one-layer grades of 128, 67 full-batch epochs each at 1e-2 after a 3-epoch warm-up); with them
`MGDLRegressor()` is >= 10x more accurate than `StandardRegressor()` on a sum of sines neither was tuned on
(tests/training/test_mgdl.py). The forecaster keeps its own settings (training.config).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

LossFn = Callable[[Tensor, Tensor], Tensor]  # (prediction (B, D), target (B, D)) -> scalar
# (trained grade, its validation output, the earlier grades' validation output, validation targets) -> None;
# may edit the grade's head in place before the grade is judged
GradePruner = Callable[["GradeNetwork", Tensor, Tensor, Tensor], None]
EpochCallback = Callable[["GradeTrainer"], None]


def mse_loss(prediction: Tensor, target: Tensor) -> Tensor:
    return torch.mean((prediction - target) ** 2)


@dataclass
class MGDLConfig:
    """Defaults: the sines benchmark's winning configuration (learning rate and warm-up chosen there on
    validation); the forecaster's profiles set every field they rely on (training.config)."""

    max_grades: int = 24
    layers_per_grade: int = 1  # Linear+ReLU layers per grade (the standard network has max_grades x this)
    width: int = 128
    epochs_per_grade: int = 67
    batch_size: int = 0  # 0: the whole train set in one batch
    learning_rate: float = 1e-2
    weight_decay: float = 0.0
    patience: int = 67  # epochs without a better validation loss before a grade stops
    min_improvement: float = 0.0  # relative validation-loss drop a grade must bring to be kept
    dropout: float = 0.0  # on each hidden layer while training (identity in eval mode and in the export)
    input_noise: float = 0.0  # std of Gaussian noise added to each grade's input while training
    warmup_epochs: int = 3  # linear learning-rate warm-up before the cosine decay
    seed: int = 0
    show_progress: bool = False  # tqdm bars, on a terminal only; `wig80 train` turns them on


@dataclass
class EpochRecord:
    grade: int
    epoch: int
    train_loss: float
    val_loss: float
    learning_rate: float


class GradeNetwork(nn.Module):
    """One shallow grade: `layers` x (Linear, ReLU), then a linear head.

    `dropout` acts after each ReLU in training mode only; it is applied functionally so that the
    state dict (and the rebuilt, exported module) is the same with or without it.
    """

    def __init__(self, in_features: int, width: int, layers: int, out_features: int, zero_head: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        self.dropout = dropout
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(in_features if i == 0 else width, width), nn.ReLU()]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, out_features)
        if zero_head:  # a new grade starts exactly at the earlier grades' prediction
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and self.dropout > 0:
            hidden = x
            for block in self.body:
                hidden = block(hidden)
                if isinstance(block, nn.ReLU):
                    hidden = nn.functional.dropout(hidden, self.dropout, training=True)
        else:
            hidden = self.body(x)  # (B, width)
        return hidden, self.head(hidden)  # (B, width), (B, D)


class MultiGradeNetwork(nn.Module):
    """The composed network: grade k reads grade k-1's hidden features; the output is the sum of heads.

    `linear` is an optional grade 0: a linear map of the input whose output is added to the heads (grade 1
    still reads the input itself). With it the network may have no deep grade at all.
    """

    def __init__(self, grades: list[GradeNetwork] | None = None, linear: nn.Linear | None = None):
        super().__init__()
        self.grades = nn.ModuleList(grades or [])
        self.linear = linear

    def head_outputs(self, x: Tensor) -> list[Tensor]:
        """Grade 0's output first when there is one, then each deep grade's head."""
        outputs, hidden = ([self.linear(x)] if self.linear is not None else []), x
        for grade in self.grades:
            hidden, out = grade(hidden)
            outputs.append(out)
        return outputs

    def hidden_and_output(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The last grade's hidden features (the input when there is no deep grade) and the summed heads."""
        total, hidden = (self.linear(x) if self.linear is not None else None), x
        for grade in self.grades:
            hidden, out = grade(hidden)
            total = out if total is None else total + out
        if total is None:
            raise RuntimeError("the network has no grade yet")
        return hidden, total

    def forward(self, x: Tensor) -> Tensor:
        return self.hidden_and_output(x)[1]


def _as_tensor(array: np.ndarray | Tensor) -> Tensor:
    tensor = torch.as_tensor(np.asarray(array, dtype=np.float32) if not isinstance(array, Tensor) else array)
    return tensor.float().reshape(len(tensor), -1)


@torch.no_grad()
def _in_chunks(function: Callable[[Tensor], Tensor], x: Tensor, chunk: int = 65536) -> Tensor:
    return torch.cat([function(x[i : i + chunk]) for i in range(0, len(x), chunk)]) if len(x) else x


class GradeTrainer:
    """Trains one grade's parameters with AdamW, a cosine learning-rate schedule and early stopping.

    Its whole state (weights, optimiser, schedule, best weights, shuffling generator) round-trips through
    `state_dict`, so a run interrupted between epochs resumes exactly.
    """

    def __init__(self, grade: GradeNetwork, grade_index: int, config: MGDLConfig, epochs: int):
        self.grade, self.grade_index, self.config, self.epochs = grade, grade_index, config, epochs
        self.optimizer = torch.optim.AdamW(grade.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.scheduler = _warmup_cosine(self.optimizer, epochs, config.warmup_epochs)
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + grade_index)
        self.epoch = 0
        self.best_val = math.inf
        self.best_state = copy.deepcopy(grade.state_dict())
        self.bad_epochs = 0
        self.history: list[EpochRecord] = []

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs or self.bad_epochs >= self.config.patience

    def run_epoch(self, inputs: Tensor, base: Tensor, targets: Tensor, loss_fn: LossFn) -> float:
        self.grade.train()
        order = torch.randperm(len(inputs), generator=self.generator)
        total, count = 0.0, 0
        batch_size = self.config.batch_size or max(len(order), 1)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            x = inputs[rows]
            if self.config.input_noise > 0:
                x = x + self.config.input_noise * torch.randn(x.shape, generator=self.generator)
            _, out = self.grade(x)
            loss = loss_fn(base[rows] + out, targets[rows])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total, count = total + loss.item() * len(rows), count + len(rows)
        self.scheduler.step()
        return total / max(count, 1)

    @torch.no_grad()
    def validation_loss(self, inputs: Tensor, base: Tensor, targets: Tensor, loss_fn: LossFn) -> float:
        self.grade.eval()
        return float(loss_fn(base + _in_chunks(lambda x: self.grade(x)[1], inputs), targets))

    def step(self, train: tuple[Tensor, Tensor, Tensor], val: tuple[Tensor, Tensor, Tensor],
             loss_fn: LossFn) -> EpochRecord:
        learning_rate = self.optimizer.param_groups[0]["lr"]
        train_loss = self.run_epoch(*train, loss_fn)
        val_loss = self.validation_loss(*val, loss_fn)
        self.epoch += 1
        if val_loss < self.best_val:
            self.best_val, self.bad_epochs = val_loss, 0
            self.best_state = copy.deepcopy(self.grade.state_dict())
        else:
            self.bad_epochs += 1
        record = EpochRecord(self.grade_index, self.epoch, train_loss, val_loss, learning_rate)
        self.history.append(record)
        return record

    def restore_best(self) -> None:
        self.grade.load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        return {"grade": self.grade.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "generator": self.generator.get_state(),
                "dropout_rng": torch.get_rng_state(),  # dropout draws from the global generator
                "epoch": self.epoch, "best_val": self.best_val, "best_state": self.best_state,
                "bad_epochs": self.bad_epochs, "history": [asdict(r) for r in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.grade.load_state_dict(state["grade"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        if "dropout_rng" in state:
            torch.set_rng_state(state["dropout_rng"])
        self.epoch, self.best_val, self.bad_epochs = state["epoch"], state["best_val"], state["bad_epochs"]
        self.best_state = state["best_state"]
        self.history = [EpochRecord(**r) for r in state["history"]]


def _warmup_cosine(optimizer: torch.optim.Optimizer, epochs: int,
                   warmup: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay over `epochs`, after `warmup` epochs of linear rise (plain cosine when warmup is 0)."""
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs - warmup, 1))
    if warmup <= 0:
        return cosine
    rise = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [rise, cosine], milestones=[warmup])


def _train_grade(trainer: GradeTrainer, train: tuple[Tensor, Tensor, Tensor],
                 val: tuple[Tensor, Tensor, Tensor], loss_fn: LossFn, desc: str,
                 on_epoch: EpochCallback | None) -> None:
    with tqdm(total=trainer.epochs, initial=trainer.epoch, desc=desc, leave=False,
              disable=None if trainer.config.show_progress else True) as bar:
        while not trainer.done:
            record = trainer.step(train, val, loss_fn)
            bar.update(1)
            bar.set_postfix(train=f"{record.train_loss:.4f}", val=f"{record.val_loss:.4f}")
            if on_epoch is not None:
                on_epoch(trainer)
    trainer.restore_best()


@dataclass
class GradeOutcome:
    grade: int
    val_loss_before: float
    val_loss_after: float
    accepted: bool
    epochs: int


@dataclass
class FitResult:
    history: list[EpochRecord] = field(default_factory=list)
    grades: list[GradeOutcome] = field(default_factory=list)


class MGDLRegressor:
    """Grade-by-grade regressor for any X (N, F) -> Y (N, D); `loss_fn` acts on the summed heads.

    `selection_loss` (default: `loss_fn`) decides on validation whether a grade is kept; early stopping
    within a grade follows `loss_fn`. `fit(..., linear=...)` starts from a fitted, frozen linear grade 0:
    then grade 1 too is kept only if it improves on it, so the result is never worse than grade 0 on
    validation by `selection_loss`.
    """

    def __init__(self, config: MGDLConfig | None = None, loss_fn: LossFn = mse_loss,
                 selection_loss: LossFn | None = None, pruner: GradePruner | None = None):
        self.config = config or MGDLConfig()
        self.loss_fn = loss_fn
        self.selection_loss = selection_loss or loss_fn
        self.pruner = pruner
        self.network = MultiGradeNetwork()
        self.result = FitResult()
        self._resume: dict | None = None

    def new_grade(self, index: int, in_features: int, out_features: int) -> GradeNetwork:
        torch.manual_seed(self.config.seed * 1000 + index)
        return GradeNetwork(in_features, self.config.width, self.config.layers_per_grade, out_features,
                            dropout=self.config.dropout)

    def fit(self, X, Y, X_val, Y_val, on_epoch: EpochCallback | None = None,
            linear: nn.Linear | None = None) -> MGDLRegressor:
        x, y, x_val, y_val = _as_tensor(X), _as_tensor(Y), _as_tensor(X_val), _as_tensor(Y_val)
        features, base = x, torch.zeros_like(y)
        features_val, base_val = x_val, torch.zeros_like(y_val)
        previous_val = float(self.selection_loss(base_val, y_val))
        if linear is not None:
            base, base_val = self._set_linear_grade(linear, x, x_val, base, base_val, previous_val, y_val)
            previous_val = float(self.selection_loss(base_val, y_val))
        for index in range(1, self.config.max_grades + 1):
            if index <= len(self.network.grades):  # accepted before an interruption: replay its outputs
                grade = self.network.grades[index - 1]
            else:
                grade = self.new_grade(index, features.shape[1], y.shape[1])
                trainer = GradeTrainer(grade, index, self.config, self.config.epochs_per_grade)
                if self._resume is not None and self._resume["grade"] == index:
                    trainer.load_state_dict(self._resume["trainer"])
                _train_grade(trainer, (features, base, y), (features_val, base_val, y_val), self.loss_fn,
                             f"grade {index}", on_epoch)
                grade.eval()
                if self.pruner is not None:
                    with torch.no_grad():
                        out_val = _frozen_step(grade, features_val, torch.zeros_like(base_val))[1]
                        self.pruner(grade, out_val, base_val, y_val)
                val_loss = float(self.selection_loss(_frozen_step(grade, features_val, base_val)[1], y_val))
                # without a grade 0, grade 1 is always kept: a model needs at least one grade
                must_keep = index == 1 and self.network.linear is None
                accepted = must_keep or val_loss < previous_val - self.config.min_improvement * abs(previous_val)
                self.result.history += trainer.history
                self.result.grades.append(GradeOutcome(index, previous_val, val_loss, accepted, trainer.epoch))
                if not accepted:
                    break
                self.network.grades.append(grade)
            for parameter in grade.parameters():
                parameter.requires_grad_(False)
            grade.eval()
            features, base = _frozen_step(grade, features, base)
            features_val, base_val = _frozen_step(grade, features_val, base_val)
            previous_val = float(self.selection_loss(base_val, y_val))
        self._resume = None
        return self

    def _set_linear_grade(self, linear: nn.Linear, x: Tensor, x_val: Tensor, base: Tensor, base_val: Tensor,
                          zero_val: float, y_val: Tensor) -> tuple[Tensor, Tensor]:
        for parameter in linear.parameters():
            parameter.requires_grad_(False)
        self.network.linear = linear.eval()
        with torch.no_grad():
            base, base_val = base + _in_chunks(linear, x), base_val + _in_chunks(linear, x_val)
        if not any(g.grade == 0 for g in self.result.grades):
            self.result.grades.append(GradeOutcome(0, zero_val, float(self.selection_loss(base_val, y_val)),
                                                   True, 0))
        return base, base_val

    def resume_from(self, state: dict, network_state: dict, n_grades: int, in_features: int,
                    out_features: int) -> None:
        """Rebuild `n_grades` accepted grades from `network_state` and the grade in progress from `state`."""
        in_dims = [in_features] + [self.config.width] * (n_grades - 1)
        linear = nn.Linear(in_features, out_features) if "linear.weight" in network_state else None
        self.network = MultiGradeNetwork([self.new_grade(i + 1, in_dims[i], out_features) for i in range(n_grades)],
                                         linear)
        self.network.load_state_dict(network_state)
        self.result = FitResult([EpochRecord(**r) for r in state.get("history", [])],
                                [GradeOutcome(**g) for g in state.get("grades", [])])
        self._resume = state if state.get("trainer") else None

    def predict(self, X) -> np.ndarray:
        self.network.eval()
        return _in_chunks(self.network, _as_tensor(X)).numpy()

    def predict_grades(self, X) -> list[np.ndarray]:
        """Each grade's head output; their sum is `predict(X)`."""
        self.network.eval()
        with torch.no_grad():
            return [out.numpy() for out in self.network.head_outputs(_as_tensor(X))]


@torch.no_grad()
def _frozen_step(grade: GradeNetwork, features: Tensor, base: Tensor) -> tuple[Tensor, Tensor]:
    """Pass the data through a frozen grade once: its hidden features feed the next grade."""
    hidden = _in_chunks(lambda x: grade(x)[0], features)
    out = _in_chunks(lambda x: grade(x)[1], features)
    return hidden, base + out


def he_initialise(network: GradeNetwork) -> None:
    """He (Kaiming) normal weights and zero biases on every hidden layer: keeps the activations' scale through
    a deep ReLU stack, where PyTorch's default init shrinks it about 6x in variance per layer."""
    for module in network.body:
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)


def trainable_parameters(in_features: int, width: int, layers: int, out_features: int = 1) -> int:
    """Parameters of `layers` x (Linear, ReLU) of `width` on `in_features` inputs and an `out_features` head."""
    return (in_features + 1) * width + (layers - 1) * (width + 1) * width + (width + 1) * out_features


def matched_standard_epochs(config: MGDLConfig, in_features: int = 1, out_features: int = 1) -> int:
    """Epochs for the standard network so that its epochs x parameters equal MGDL's over all its grades (an
    MGDL epoch trains one grade; the frozen grades' features are computed once)."""
    first = trainable_parameters(in_features, config.width, config.layers_per_grade, out_features)
    later = trainable_parameters(config.width, config.width, config.layers_per_grade, out_features)
    mgdl = config.epochs_per_grade * (first + (config.max_grades - 1) * later)
    standard = trainable_parameters(in_features, config.width, config.max_grades * config.layers_per_grade,
                                    out_features)
    return max(1, round(mgdl / standard))


class StandardRegressor:
    """Single-grade baseline: max_grades x layers_per_grade hidden layers, one head, trained end to end.

    `budget`: "parameters" (default) trains for `matched_standard_epochs`, MGDL's epochs x trainable
    parameters; "epochs" for max_grades x epochs_per_grade epochs (the forecaster's single-grade baseline,
    which early stopping ends within a few epochs anyway). `he_init` (default) starts the hidden layers with
    `he_initialise`: PyTorch's default init leaves a network of 16+ ReLU layers almost untrainable.
    """

    def __init__(self, config: MGDLConfig | None = None, loss_fn: LossFn = mse_loss, he_init: bool = True,
                 budget: str = "parameters"):
        if budget not in ("parameters", "epochs"):
            raise ValueError(f"unknown budget {budget!r}; choose parameters or epochs")
        self.config = config or MGDLConfig()
        self.loss_fn = loss_fn
        self.he_init = he_init
        self.budget = budget
        self.network = MultiGradeNetwork()
        self.result = FitResult()

    def epochs(self, in_features: int, out_features: int) -> int:
        cfg = self.config
        if self.budget == "epochs":
            return cfg.epochs_per_grade * cfg.max_grades
        return matched_standard_epochs(cfg, in_features, out_features)

    def fit(self, X, Y, X_val, Y_val, on_epoch: EpochCallback | None = None) -> StandardRegressor:
        x, y, x_val, y_val = _as_tensor(X), _as_tensor(Y), _as_tensor(X_val), _as_tensor(Y_val)
        cfg = self.config
        torch.manual_seed(cfg.seed * 1000)
        depth = cfg.max_grades * cfg.layers_per_grade
        # default (non-zero) head init: a deep net with a zero head trains its body only through the head
        network = GradeNetwork(x.shape[1], cfg.width, depth, y.shape[1], zero_head=False, dropout=cfg.dropout)
        if self.he_init:
            he_initialise(network)
        trainer = GradeTrainer(network, 1, cfg, self.epochs(x.shape[1], y.shape[1]))
        _train_grade(trainer, (x, torch.zeros_like(y), y), (x_val, torch.zeros_like(y_val), y_val),
                     self.loss_fn, "standard", on_epoch)
        self.network = MultiGradeNetwork([network])
        self.result = FitResult(trainer.history, [GradeOutcome(1, math.inf, trainer.best_val, True, trainer.epoch)])
        return self

    def predict(self, X) -> np.ndarray:
        self.network.eval()
        return _in_chunks(self.network, _as_tensor(X)).numpy()
