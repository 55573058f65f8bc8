"""The `wig80` entry point: one CLI over the project's packages."""

__version__ = "0.1.0"
