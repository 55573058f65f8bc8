""".dockerignore: the build context holds what the images copy and nothing else. Checked with the Docker
SDK's own context filter (`docker.utils.build.exclude_paths`, what docker-compose 1.29 sends to the
engine), on a tree with everything that must never reach an image, and on this checkout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.requirements import requirement_missing

ROOT = Path(__file__).resolve().parents[2]
SDK_PYTHON = ROOT / ".venv-deploy-lint" / "bin" / "python"
NEVER = [".env", "deploy/.env", "var/pocketbase/data.db", "var/data/bars.sqlite", ".venv/bin/python",
         ".venv-deploy-lint/bin/python", ".git/config", "benchmarks/results/load_stats.csv", ".pytest_cache/v",
         ".ruff_cache/x", "build/compose-test/base.tar", "gateway/__pycache__/main.cpython-311.pyc",
         "feature_kernels/__pycache__/spectral.rsi-1.py311.nbc", "model_repository/wig80/1/model.py",
         "model_repository/mgdl/2/model.onnx", "tests/conftest.py", "tls.key", "deploy/nginx/tls.pem",
         "wig80_spectral.egg-info/PKG-INFO"]
NEEDED = ["pyproject.toml", "README.md", "deploy/gateway-requirements.txt", "gateway/main.py",
          "gateway/static/index.html", "settings/__init__.py", "processes/children.py",
          "market_data/symbols/constituents_2023.csv", "feature_kernels/spectral.py", "training/config.py",
          "export/repository.py", "serving/tritonserver.py", "serving/contract.py", "registry/client.py",
          "lifecycle/retrain.py", "model_repository/wig80/config.template.pbtxt", "model_repository/wig80/model.py"]


def context_files(root: Path) -> set[str]:
    """The files docker would send for a build of `root` (its .dockerignore applied)."""
    if not SDK_PYTHON.exists():
        requirement_missing(f"{SDK_PYTHON} is missing: run `make deploy-linters`")
    script = ("import json, sys; from pathlib import Path; from docker.utils.build import exclude_paths\n"
              "root = sys.argv[1]; patterns = Path(root, '.dockerignore').read_text().splitlines()\n"
              "print(json.dumps(sorted(p for p in exclude_paths(root, patterns) if Path(root, p).is_file())))")
    result = subprocess.run([str(SDK_PYTHON), "-c", script, str(root)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> set[str]:
    root = tmp_path_factory.mktemp("context")
    for name in NEVER + NEEDED:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    return context_files(root)


def test_secrets_state_caches_and_results_never_reach_an_image(planted):
    assert not planted & set(NEVER), sorted(planted & set(NEVER))


def test_what_the_images_copy_is_in_the_context(planted):
    assert set(NEEDED) <= planted, sorted(set(NEEDED) - planted)


def test_this_checkouts_context_is_sources_only():
    sent = context_files(ROOT)
    tops = {path.split("/")[0] for path in sent}
    # docker always sends the Dockerfile and .dockerignore themselves
    assert tops <= {".dockerignore", "Dockerfile", "pyproject.toml", "README.md", "deploy", "settings", "processes",
                    "wig80", "market_data", "feature_kernels", "training", "export", "serving", "registry", "lifecycle",
                    "gateway", "model_repository", "analogues"}, sorted(tops)
    assert not [path for path in sent if "__pycache__" in path or path.endswith((".pyc", ".onnx", ".env"))]
    assert {path for path in sent if path.startswith("deploy/")} == {"deploy/gateway-requirements.txt"}
