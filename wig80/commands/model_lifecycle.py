"""`wig80 retrain [--challenger RUN_DIR]` and `wig80 rollback VERSION`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BUSY = 3  # another retrain, export, deploy or rollback holds the repository lock


def register(subparsers: argparse._SubParsersAction) -> None:
    retrain = subparsers.add_parser(
        "retrain",
        help="train a challenger on the stored bars, score it against the serving champion, promote if it wins",
        description="Champion and challenger are scored on the same most recent rows neither trained on "
        "(WIG80_RETRAIN_EVAL_DAYS, after both runs' stored validation end + purge); the challenger is promoted "
        "(a new version, loaded into Triton) only when its NLL is lower and its directional accuracy is not worse beyond "
        "WIG80_RETRAIN_ACCURACY_TOLERANCE, and its lower NLL is significant (Diebold-Mariano p below "
        "WIG80_RETRAIN_MAX_P_VALUE). The registry records the decision either way.",
    )
    retrain.add_argument("--challenger", type=Path, help="score this trained run instead of training one")
    retrain.set_defaults(handler=run_retrain)
    rollback = subparsers.add_parser("rollback", help="serve an earlier registered version again")
    rollback.add_argument("version", type=int, metavar="VERSION")
    rollback.add_argument("--force", action="store_true",
                          help="serve it even when it is already served or a retraining rejected it")
    rollback.set_defaults(handler=run_rollback)


def fail(command: str, message: str, code: int = 1) -> int:
    print(f"wig80 {command}: {message}", file=sys.stderr, flush=True)
    return code


def run_retrain(args: argparse.Namespace) -> int:
    from lifecycle.repository_lock import RepositoryBusy, UnsafeLockFile
    from lifecycle.retrain import retrain
    from registry.client import RegistryError
    from settings import Settings
    from wig80.commands.registry_session import open_registry

    settings = Settings()
    try:
        with open_registry(settings) as registry:
            outcome = retrain(settings, registry, args.challenger)
    except RepositoryBusy as error:
        return fail("retrain", str(error), EXIT_BUSY)
    except UnsafeLockFile as error:
        return fail("retrain", str(error))
    except RegistryError as error:
        return fail("retrain", f"{error}; nothing was changed")
    print(f"[retrain] {outcome.decision}: {outcome.reason}", flush=True)
    if outcome.promoted_version:
        print(f"[retrain] serving version {outcome.promoted_version}", flush=True)
    return 1 if outcome.decision == "failed" else 0


def run_rollback(args: argparse.Namespace) -> int:
    from lifecycle.deploy import DeployError
    from lifecycle.repository_lock import RepositoryBusy, UnsafeLockFile
    from lifecycle.rollback import rollback
    from registry.client import RegistryError
    from settings import Settings
    from wig80.commands.registry_session import open_registry

    settings = Settings()
    try:
        with open_registry(settings) as registry:
            rollback(registry, settings, args.version, force=args.force)
    except RepositoryBusy as error:
        return fail("rollback", str(error), EXIT_BUSY)
    except (UnsafeLockFile, DeployError, RegistryError, ValueError) as error:  # RollbackRefused is a ValueError
        return fail("rollback", str(error))
    print(f"[rollback] serving version {args.version}", flush=True)
    return 0
