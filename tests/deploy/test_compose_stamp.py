"""`make compose-test` passed on the deploy files as they are: its stamp (the hash of deploy/, the
Dockerfiles, the compose files, .dockerignore, pyproject.toml and the compose test, written only by a
passing run) matches them. `.ci/run` runs `make compose-test` first when it would not."""

from tests.deploy.compose_stack import stamp


def test_the_deploy_files_are_as_the_last_passing_compose_test_left_them():
    assert stamp.recorded(), f"{stamp.PASSED} is missing: run `make compose-test` (root, several minutes)"
    assert stamp.current() == stamp.recorded(), (
        "deploy/, Dockerfile*, docker-compose*.yml, .dockerignore, pyproject.toml or tests/deploy/compose_stack/ "
        f"changed since the last passing `make compose-test`: run it and commit {stamp.PASSED.name}")


def test_the_stamp_covers_what_the_compose_test_builds():
    tested = {path.relative_to(stamp.ROOT).as_posix() for path in stamp.tested_files()}
    assert {"Dockerfile", "docker-compose.yml", ".dockerignore", "pyproject.toml", "deploy/nginx/nginx.conf",
            "deploy/compose.cpu.yml", "deploy/lifecycle.Dockerfile", "tests/deploy/compose_stack/test_stack.py"} <= tested
    assert "tests/deploy/compose_stack/passed.sha256" not in tested
