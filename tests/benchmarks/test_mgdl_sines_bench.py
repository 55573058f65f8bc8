import numpy as np
import torch

from benchmarks.mgdl_sines_bench import run, sum_of_sines
from training.mgdl import (
    GradeNetwork,
    MGDLConfig,
    MGDLRegressor,
    StandardRegressor,
    he_initialise,
    matched_standard_epochs,
    trainable_parameters,
)


def _parameter_count(network) -> int:
    return sum(p.numel() for p in network.parameters())


def test_the_parameter_formula_counts_the_real_grades_and_the_standard_network():
    config = MGDLConfig(max_grades=3, layers_per_grade=2, width=8, epochs_per_grade=2, batch_size=64,
                        warmup_epochs=0, min_improvement=-1.0)  # keep every grade so that all three are counted
    x = np.random.default_rng(0).uniform(0, 1, (64, 1))
    y = sum_of_sines(x, (1.0, 3.0))
    mgdl = MGDLRegressor(config).fit(x, y, x, y)
    assert len(mgdl.network.grades) == 3
    assert _parameter_count(mgdl.network.grades[0]) == trainable_parameters(1, 8, 2)
    assert _parameter_count(mgdl.network.grades[1]) == trainable_parameters(8, 8, 2)
    standard = StandardRegressor(config).fit(x, y, x, y)
    assert _parameter_count(standard.network) == trainable_parameters(1, 8, 6)


def test_the_standard_network_has_the_same_depth_and_the_same_epochs_times_parameters():
    config = MGDLConfig(max_grades=16, layers_per_grade=1, width=128, epochs_per_grade=100)
    assert StandardRegressor(config).epochs(1, 1) == matched_standard_epochs(config)  # its default budget
    mgdl_budget = 100 * (trainable_parameters(1, 128, 1) + 15 * trainable_parameters(128, 128, 1))
    standard_params = trainable_parameters(1, 128, 16)
    epochs = matched_standard_epochs(config)
    assert abs(epochs * standard_params - mgdl_budget) <= standard_params / 2
    assert epochs < 16 * 100  # not the same epochs: an MGDL epoch trains one grade's parameters only

    result = run(n_train=64, epochs_per_grade=2, width=8, grades=3, layers_per_grade=1)
    assert result["standard"]["epochs"] == matched_standard_epochs(
        MGDLConfig(max_grades=3, layers_per_grade=1, width=8, epochs_per_grade=2))
    assert result["standard"]["hidden_layers"] == 3 * 1


def test_he_init_keeps_the_signal_of_a_deep_relu_stack_that_the_default_init_loses():
    torch.manual_seed(0)
    x = torch.rand(512, 1)
    default = GradeNetwork(1, 64, 24, 1, zero_head=False)
    he = GradeNetwork(1, 64, 24, 1, zero_head=False)
    he_initialise(he)
    with torch.no_grad():
        default_spread = default(x)[0].std(dim=0).mean().item()
        he_spread = he(x)[0].std(dim=0).mean().item()
    assert default_spread < 1e-6  # 24 layers at ~1/6 of the variance each: the input no longer shows
    assert he_spread > 1e-2
