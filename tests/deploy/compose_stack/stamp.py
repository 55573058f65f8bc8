"""The hash of every file `make compose-test` tests, as of its last passing run (committed in PASSED).

`make compose-test` writes it when every check passed; tests/deploy/test_compose_stamp.py (in `make test`)
fails when those files changed since, and `.ci/run` runs `make compose-test` first in that case.
Standard library only: `.ci/run` asks before the virtual environment exists.

    python3 tests/deploy/compose_stack/stamp.py --check    # exit 1 when stale
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PASSED = Path(__file__).resolve().parent / "passed.sha256"
# what the compose test builds and runs (pyproject.toml: the dependencies the images install), and the test
TESTED = ("deploy/**/*", "Dockerfile*", "docker-compose*.yml", ".dockerignore", "pyproject.toml",
          "tests/deploy/compose_stack/**/*")
SKIPPED_PARTS = {"__pycache__"}


def tested_files() -> list[Path]:
    files = {path for pattern in TESTED for path in ROOT.glob(pattern) if path.is_file()}
    return sorted(path for path in files if path != PASSED and not SKIPPED_PARTS & set(path.parts)
                  and path.suffix != ".pyc")


def current() -> str:
    digest = hashlib.sha256()
    for path in tested_files():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def recorded() -> str:
    return PASSED.read_text().split()[0] if PASSED.is_file() else ""


def write() -> None:
    PASSED.write_text(f"{current()}  the deploy files as of the last passing `make compose-test`\n")


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        stale = current() != recorded()
        if stale:
            print("deploy/, Dockerfile*, docker-compose*.yml, .dockerignore, pyproject.toml or tests/deploy/compose_stack/ "
                  "changed since the last passing `make compose-test`", file=sys.stderr)
        return 1 if stale else 0
    print(current())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
