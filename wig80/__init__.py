"""The `wig80` entry point: one CLI and one typed settings object over the project's packages."""

__version__ = "0.1.0"
