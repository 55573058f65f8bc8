"""checkov, hadolint and kubernetes-validate on the deployment files, with zero unexplained findings: every
finding is in docs/security-scans.md's table with its reason, and every row of that table still matches a
finding. The scanners are pinned in deploy/lint-requirements.txt (`make deploy-linters`)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.fixtures.requirements import requirement_missing

ROOT = Path(__file__).resolve().parents[2]
SCANNERS = ROOT / ".venv-deploy-lint" / "bin"
DOCUMENTED = ROOT / "docs" / "security-scans.md"
DOCKERFILES = sorted([ROOT / "Dockerfile", *(ROOT / "deploy").glob("*.Dockerfile"),
                      *(ROOT / "tests" / "deploy" / "compose_stack" / "images").glob("*.Dockerfile")])
MANIFESTS = sorted(path for path in (ROOT / "deploy" / "k8s").glob("*.yaml") if path.name != "kustomization.yaml")
KUBERNETES_VERSION = "1.37.0"


@dataclass(frozen=True)
class Finding:
    tool: str
    check: str
    file: str  # relative to the repository


@dataclass(frozen=True)
class Explanation:
    tool: str
    check: str
    files: tuple[str, ...]  # globs
    reason: str

    def explains(self, finding: Finding) -> bool:
        return (self.tool, self.check) == (finding.tool, finding.check) and any(
            fnmatch.fnmatch(finding.file, pattern) for pattern in self.files)


def scanner(name: str) -> str:
    path = SCANNERS / name
    if not path.exists():
        requirement_missing(f"{path} is missing: run `make deploy-linters` (pip install -r deploy/lint-requirements.txt)")
    return str(path)


def checkov_findings() -> set[Finding]:
    files = [str(path.relative_to(ROOT)) for path in (*DOCKERFILES, *MANIFESTS)]
    result = subprocess.run([scanner("checkov"), "--framework", "kubernetes", "dockerfile", "secrets", "--skip-download",
                             "--quiet", "--compact", "--output", "json", "--file", *files],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode in (0, 1) and result.stdout.strip(), result.stderr[-3000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return {Finding("checkov", check["check_id"], check["file_path"].lstrip("/"))
            for report in reports for check in report["results"]["failed_checks"]}


def hadolint_findings() -> set[Finding]:
    files = [str(path.relative_to(ROOT)) for path in DOCKERFILES]
    result = subprocess.run([scanner("hadolint"), "--format", "json", "--no-fail", *files],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    return {Finding("hadolint", item["code"], item["file"]) for item in json.loads(result.stdout)}


def documented() -> list[Explanation]:
    rows = []
    for line in DOCUMENTED.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in {"checkov", "hadolint"}:
            rows.append(Explanation(cells[0], cells[1], tuple(re.findall(r"`([^`]+)`", cells[2])), cells[3]))
    assert rows, f"no table of findings in {DOCUMENTED}"
    return rows


@pytest.fixture(scope="module")
def findings() -> set[Finding]:
    return checkov_findings() | hadolint_findings()


def test_every_finding_is_fixed_or_documented_with_its_reason(findings):
    explanations = documented()
    unexplained = sorted(f"{f.tool} {f.check} {f.file}" for f in findings
                         if not any(row.explains(f) for row in explanations))
    assert not unexplained, (f"fix these or explain them in {DOCUMENTED.relative_to(ROOT)}:\n" + "\n".join(unexplained))
    assert all(len(row.reason) > 40 for row in explanations), "every documented finding says why it stays"


def test_every_documented_finding_still_occurs(findings):
    stale = [f"{row.tool} {row.check} {row.files}" for row in documented()
             if not any(row.explains(finding) for finding in findings)]
    assert not stale, f"fixed: delete these rows of {DOCUMENTED.relative_to(ROOT)}:\n" + "\n".join(stale)


def test_the_scanners_see_the_files_and_would_report_a_finding(tmp_path):
    """Not vacuous: a Dockerfile without a USER and a pod without a securityContext are reported."""
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    text = (tmp_path / "Dockerfile").read_text()
    (tmp_path / "Dockerfile").write_text(re.sub(r"^USER .*$", "", text, flags=re.M))
    deployment = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "gateway.yaml").read_text())
    pod = next(doc for doc in deployment if doc["kind"] == "Deployment")
    del pod["spec"]["template"]["spec"]["securityContext"]
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(pod))
    result = subprocess.run([scanner("checkov"), "--framework", "kubernetes", "dockerfile", "--skip-download",
                             "--quiet", "--compact", "--output", "json", "--file", "Dockerfile", "gateway.yaml"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    reports = json.loads(result.stdout)
    failed = {check["check_id"] for report in reports for check in report["results"]["failed_checks"]}
    assert {"CKV_DOCKER_3", "CKV_K8S_29"} <= failed
    assert DOCKERFILES and MANIFESTS


def test_the_manifests_validate_against_the_kubernetes_schemas():
    result = subprocess.run([scanner("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSION,
                             *map(str, MANIFESTS)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    validated = re.findall(r"passed for resource (\S+)", result.stdout + result.stderr)
    documents = [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert len(validated) == len(documents), result.stdout


def test_a_manifest_off_the_schema_is_refused(tmp_path):
    (tmp_path / "bad.yaml").write_text((ROOT / "deploy" / "k8s" / "gateway.yaml").read_text().replace(
        "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n            readOnlyRootFs: true", 1))
    result = subprocess.run([scanner("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSION,
                             str(tmp_path / "bad.yaml")], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "readOnlyRootFs" in result.stdout + result.stderr
