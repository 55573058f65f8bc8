"""One repository lock for retrain, export, deploy and rollback: two concurrent exports never compute the
same version, a held lock refuses the others clearly, and a symbolic link in the lock's place is refused."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lifecycle.repository_lock import LOCK_FILE, RepositoryBusy, UnsafeLockFile, repository_lock
from wig80.cli import main as wig80_main
from wig80.commands.model_lifecycle import EXIT_BUSY


class HeldElsewhere:
    """The lock held by another thread (another holder, as another process would be) until `release`."""

    def __init__(self, home: Path, action: str) -> None:
        self.held, self.released = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(home, action))

    def _hold(self, home: Path, action: str) -> None:
        with repository_lock(home, action):
            self.held.set()
            self.released.wait(30)

    def __enter__(self) -> HeldElsewhere:
        self.thread.start()
        assert self.held.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.thread.join(10)


def versions(repository: Path) -> list[int]:
    folder = repository / "wig80"
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def test_a_held_lock_refuses_another_holder_naming_the_holder_and_is_reentrant_in_its_thread(tmp_path):
    with HeldElsewhere(tmp_path, "retrain"):
        with pytest.raises(RepositoryBusy, match=r"export refused: another retrain \(pid \d+.*holds the repository lock"):
            with repository_lock(tmp_path, "export"):
                pass
    with repository_lock(tmp_path, "retrain"), repository_lock(tmp_path, "export"):  # a promotion's export
        assert (tmp_path / LOCK_FILE).read_text().startswith("retrain (pid")
    assert (tmp_path / LOCK_FILE).read_text() == ""  # released: no holder named


def test_a_symbolic_link_in_the_locks_place_is_refused_and_not_followed(tmp_path):
    target = tmp_path / "someone-elses-file"
    target.write_text("keep me\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / LOCK_FILE).symlink_to(target)
    with pytest.raises(UnsafeLockFile, match="is a symbolic link .*refused, not followed"):
        with repository_lock(home, "export"):
            pass
    assert target.read_text() == "keep me\n"
    (home / LOCK_FILE).unlink()
    (home / LOCK_FILE).symlink_to(tmp_path / "missing")  # a dangling link: nothing is created through it
    with pytest.raises(UnsafeLockFile):
        with repository_lock(home, "export"):
            pass
    assert not (tmp_path / "missing").exists()


def test_two_concurrent_exports_never_share_a_version(tiny_run, tmp_path, monkeypatch, registry_env, capsys):
    monkeypatch.setenv("WIG80_HOME", str(tiny_run.home))
    repository = tmp_path / "repo"
    start, codes = threading.Barrier(2), []

    def export() -> None:
        start.wait()
        codes.append(wig80_main(["export", str(tiny_run.run_dir), "--repository", str(repository)]))

    threads = [threading.Thread(target=export) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    with registry_env.client() as registry:
        registered = sorted(int(record["version"]) for record in registry.records("model_versions"))
    if sorted(codes) == [0, 0]:  # the second started after the first had finished: the next version
        assert versions(repository) == registered == [1, 2]
    else:  # they overlapped: the second was refused at once, clearly, and wrote nothing
        assert sorted(codes) == [0, EXIT_BUSY]
        assert "export refused: another export" in capsys.readouterr().err
        assert versions(repository) == registered == [1]
    assert not list(repository.glob("**/*.partial")) and not list(repository.glob(".staging*"))


def test_export_and_rollback_refuse_while_a_retraining_holds_the_lock(tiny_run, tmp_path, monkeypatch,
                                                                    registry_env, capsys):
    monkeypatch.setenv("WIG80_HOME", str(tiny_run.home))
    repository = tmp_path / "repo"
    with HeldElsewhere(tiny_run.home, "retrain"):
        assert wig80_main(["export", str(tiny_run.run_dir), "--repository", str(repository)]) == EXIT_BUSY
        assert wig80_main(["rollback", "1"]) == EXIT_BUSY
    err = capsys.readouterr().err
    assert "wig80 export: export refused: another retrain" in err
    assert "wig80 rollback: rollback refused: another retrain" in err
    assert versions(repository) == []
