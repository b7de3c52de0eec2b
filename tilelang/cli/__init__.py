"""The ``tilelang`` command line (``tilelang.cli:main``)."""

from tilelang.cli.main import main

__all__ = ["main"]
