"""`wig80`: one command line over the packages. Each module of `wig80.commands` registers its subcommands.

Subcommand modules are imported only when their command runs, so `wig80 data info` does not
pay for torch or Numba.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module with `register(subparsers)`, help)
COMMAND_MODULES: dict[str, str] = {
    "data": "wig80.commands.data",
    "train": "wig80.commands.train",
    "evaluate": "wig80.commands.train",
    "export": "wig80.commands.model_export",
    "serve": "wig80.commands.serve",
    "replay": "wig80.commands.replay",
    "up": "wig80.commands.serve",
    "retrain": "wig80.commands.model_lifecycle",
    "rollback": "wig80.commands.model_lifecycle",
}


def build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wig80", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else sorted(set(COMMAND_MODULES.values()))
    for name in modules:
        try:
            importlib.import_module(name).register(subparsers)
        except ModuleNotFoundError as error:
            if error.name is None or not name.startswith(error.name):
                raise
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
