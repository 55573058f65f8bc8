"""The top floor: every entry point of the project, one module per group of `wig80` commands.

Each module registers its subcommands (`register(subparsers)`) and is the one place that reads the
settings from the environment; the packages below receive them as arguments.
"""
