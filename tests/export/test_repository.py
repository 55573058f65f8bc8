"""The repository writer: numbered versions with metadata, and configs Triton's own protobuf accepts."""

from __future__ import annotations

import json

import pytest
from tritonclient.grpc import model_config_pb2

import feature_kernels
from export.exporter import export_run
from export.repository import (
    SOURCE_REPOSITORY,
    TARGETS,
    ServingShape,
    render_configs,
    render_plan_config,
)
from serving.contract import LOAD_ORDER
from tests.export.conftest import parse_model_config
from wig80.cli import main as wig80_main

SHAPE = ServingShape(
    "run_x",
    128,
    tuple(feature_kernels.FEATURE_NAMES),
    30,
    max_batch_size=24,
    max_queue_delay_microseconds=1500,
)

F = len(feature_kernels.FEATURE_NAMES)


@pytest.mark.parametrize("target", TARGETS)
def test_every_config_parses_into_triton_model_config(target):
    rendered = render_configs(SHAPE, target, 3, loaded=(2, 3))
    configs = {name: parse_model_config(text) for name, text in rendered.items()}
    assert set(configs) == set(LOAD_ORDER)
    for name, config in configs.items():
        assert config.name == name
        assert config.max_batch_size == 24
    # the parts keep the replaced version loaded; the ensemble has its one version, its steps pinned to it
    for part in ("features", "mgdl"):
        assert list(configs[part].version_policy.specific.versions) == [2, 3]
    assert list(configs["wig80"].version_policy.specific.versions) == [3]
    if target == "gpu":  # on cpu wig80 is one model, its version running only its own files
        assert [s.model_version for s in configs["wig80"].ensemble_scheduling.step] == [3, 3]
    features, mgdl, wig80 = configs["features"], configs["mgdl"], configs["wig80"]
    assert features.backend == "python"
    assert [(i.name, list(i.dims)) for i in features.input] == [("OHLCV", [-1, 5])]
    assert [(o.name, list(o.dims)) for o in features.output] == [
        ("FEATURES", [F]), ("BAND_SHARES", [3]), ("MODEL_FEATURES", [F])
    ]
    assert features.parameters["feature_names"].string_value.split(",") == list(feature_kernels.FEATURE_NAMES)
    assert features.parameters["band_edges"].string_value.split(",") == [
        f"{e:g}" for e in feature_kernels.BAND_EDGES
    ]
    assert [(i.name, list(i.dims)) for i in mgdl.input] == [("FEATURES", [F])]
    assert [(o.name, list(o.dims)) for o in mgdl.output] == [("MEAN", [30]), ("STD", [30])]
    assert mgdl.parameters["model_version"].string_value == "3"
    assert mgdl.parameters["run"].string_value == "run_x"
    for batched in (features, mgdl):
        assert batched.dynamic_batching.max_queue_delay_microseconds == 1500
    assert [(i.name, list(i.dims)) for i in wig80.input] == [("OHLCV", [128, 5])]
    assert [(o.name, list(o.dims)) for o in wig80.output] == [
        ("MEAN", [30]), ("STD", [30]), ("FEATURES", [F]), ("BAND_SHARES", [3])
    ]
    assert wig80.parameters["model_version"].string_value == "3"
    if target == "cpu":  # one Python model doing both steps, configured like `features`
        assert wig80.backend == "python" and not wig80.ensemble_scheduling.step
        assert wig80.dynamic_batching.max_queue_delay_microseconds == 1500
        for name in ("feature_names", "band_edges", "min_window"):
            assert wig80.parameters[name] == features.parameters[name]
        return
    assert wig80.platform == "ensemble"
    assert [s.model_name for s in wig80.ensemble_scheduling.step] == ["features", "mgdl"]
    # mgdl reads a tensor that is no ensemble output, so no client's choice of outputs prunes it
    mgdl_step = wig80.ensemble_scheduling.step[1]
    assert mgdl_step.input_map["FEATURES"] not in {o.name for o in wig80.output}


def test_gpu_target_uses_onnxruntime_with_tensorrt_fp16_cache_profiles_and_warmup():
    mgdl = parse_model_config(render_configs(SHAPE, "gpu", 1)["mgdl"])
    assert mgdl.backend == "onnxruntime" and mgdl.default_model_filename == "model.onnx"
    assert mgdl.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    (accelerator,) = mgdl.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    assert accelerator.parameters["precision_mode"] == "FP16"
    assert accelerator.parameters["trt_engine_cache_enable"] == "1"
    assert accelerator.parameters["trt_profile_min_shapes"] == f"FEATURES:1x{F}"
    assert accelerator.parameters["trt_profile_max_shapes"] == f"FEATURES:24x{F}"
    assert [w.batch_size for w in mgdl.model_warmup] == [1, 24]


def test_tensorrt_plan_config_parses():
    plan = parse_model_config(render_plan_config(SHAPE, 1))
    assert plan.platform == "tensorrt_plan" and plan.default_model_filename == "model.plan"
    assert [(i.name, list(i.dims)) for i in plan.input] == [("FEATURES", [F])]


def test_batching_off_drops_only_the_dynamic_batching_block():
    shape = ServingShape(
        *[
            getattr(SHAPE, f)
            for f in (
                "run",
                "window",
                "feature_names",
                "horizon_count",
                "max_batch_size",
                "max_queue_delay_microseconds",
            )
        ],
        dynamic_batching=False,
    )
    for text in render_configs(shape, "cpu", 1).values():
        config = parse_model_config(text)
        assert not config.HasField("dynamic_batching")
        assert config.max_batch_size == 24


def test_two_exports_make_versions_1_and_2_with_metadata(tiny_run, tmp_path):
    settings = tiny_run.settings(max_batch_size=8)
    repository = tmp_path / "repo"
    first = export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
    second = export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
    assert (first.version, second.version) == (1, 2)
    for model in LOAD_ORDER:
        assert sorted(p.name for p in (repository / model).iterdir() if p.is_dir()) == ["1", "2"]
        config = parse_model_config((repository / model / "config.pbtxt").read_text())
        assert config.max_batch_size == 8
        metadata = json.loads((repository / model / "2" / "model_metadata.json").read_text())
        assert metadata["model_version"] == 2 and metadata["run"] == tiny_run.run_dir.name
        assert metadata["feature_names"] == list(feature_kernels.FEATURE_NAMES)
        assert metadata["parity"]["passed"] and metadata["parity"]["batch_sizes"] == list(range(1, 9))
        assert "metrics" in metadata
    assert {p.name for p in (repository / "mgdl" / "2").iterdir()} == {
        "model.onnx",
        "model.py",
        "model_metadata.json",
    }
    assert {p.name for p in (repository / "features" / "2").iterdir()} == {"model.py", "model_metadata.json"}
    # the fused CPU wig80: version 2 runs its own copy of network 2 and of the features code
    assert {p.name for p in (repository / "wig80" / "2").iterdir()} == {
        "model.py", "features_model.py", "model.onnx", "model_metadata.json"
    }
    assert (repository / "wig80" / "2" / "model.onnx").read_bytes() == (repository / "mgdl" / "2" / "model.onnx").read_bytes()
    assert (repository / "mgdl" / "config.cpu.template.pbtxt").is_file()  # sources travel with the repository


def test_cli_gpu_target_with_tensorrt_writes_configs_then_says_no_tensorrt(
    tiny_run, tmp_path, capsys, monkeypatch, registry_env
):
    from export import tensorrt

    if tensorrt.unavailable_reason() is None:
        pytest.skip("TensorRT and a GPU are present: --tensorrt builds an engine here")
    monkeypatch.setenv("WIG80_HOME", str(tiny_run.home))
    repository = tmp_path / "repo"
    code = wig80_main(
        ["export", str(tiny_run.run_dir), "--target", "gpu", "--tensorrt", "--repository", str(repository)]
    )
    assert code == 1
    assert "no TensorRT engine built" in capsys.readouterr().err
    mgdl = parse_model_config((repository / "mgdl" / "config.pbtxt").read_text())
    assert mgdl.backend == "onnxruntime"
    assert (repository / "mgdl" / "1" / "model.onnx").is_file()
    assert not (repository / "mgdl" / "1" / "model.py").exists()  # the native backend needs no Python model


def test_cli_refuses_a_missing_run_directory(tmp_path, capsys):
    assert wig80_main(["export", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_a_run_trained_on_other_features_is_refused(tiny_run, tmp_path):
    from feature_kernels import FEATURE_NAMES
    from training.checkpoint import write_untrained_run

    run_dir = write_untrained_run(tmp_path / "other", list(FEATURE_NAMES)[:-1] + ["made_up"]).parent
    with pytest.raises(ValueError, match="retrain before exporting"):
        export_run(run_dir, tmp_path / "repo", "cpu", settings=tiny_run.settings())
    assert not (tmp_path / "repo").exists()


def test_the_source_tree_templates_are_never_a_repository(tiny_run):
    before = sorted(p.name for p in SOURCE_REPOSITORY.rglob("*"))
    with pytest.raises(ValueError, match="template folder"):
        export_run(tiny_run.run_dir, SOURCE_REPOSITORY, "cpu", settings=tiny_run.settings())
    assert sorted(p.name for p in SOURCE_REPOSITORY.rglob("*")) == before


def test_an_export_without_a_repository_lands_in_its_home(tiny_run, tmp_path):
    settings = tiny_run.settings(home=tmp_path / "home")
    result = export_run(tiny_run.run_dir, settings=settings)
    assert result.repository == tmp_path / "home" / "model_repository"
    assert (result.repository / "wig80" / str(result.version)).is_dir()


def test_a_repository_transaction_snapshots_once_and_undoes_what_was_not_kept(tmp_path):
    """A promotion's export and deployment are one change: a failure puts the configs back as they were
    when it began and removes the unregistered versions; a registered (kept) version's folders stay."""
    from export.repository import RepositoryTransaction, repository_transaction

    for model in LOAD_ORDER:
        (tmp_path / model).mkdir()
        (tmp_path / model / "config.pbtxt").write_text(f"{model} pinned to 1")
    with pytest.raises(RuntimeError, match="load failed"), RepositoryTransaction(tmp_path) as change:
        for version in (2, 3):
            for model in LOAD_ORDER:
                (tmp_path / model / str(version)).mkdir()
            change.written(version)
        change.keep(2)
        with repository_transaction(tmp_path, joined=change) as same:  # a step of the promotion joins it
            assert same is change
            (tmp_path / "wig80" / "config.pbtxt").write_text("wig80 pinned to 3")
        assert (tmp_path / "wig80" / "config.pbtxt").read_text() == "wig80 pinned to 3"  # a joined step undoes nothing
        raise RuntimeError("the load failed")
    assert [(tmp_path / model / "config.pbtxt").read_text() for model in LOAD_ORDER] == [
        f"{model} pinned to 1" for model in LOAD_ORDER]
    assert all((tmp_path / model / "2").is_dir() and not (tmp_path / model / "3").exists() for model in LOAD_ORDER)
