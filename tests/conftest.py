"""Test-wide settings: the disk cache of compiled kernels lives in a temporary folder,
never in the user's home directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _tmp_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point ``TILELANG_CACHE_DIR`` at a session temporary folder unless it is set."""
    if os.environ.get("TILELANG_CACHE_DIR"):
        yield Path(os.environ["TILELANG_CACHE_DIR"])
        return
    path = tmp_path_factory.mktemp("tilelang-cache")
    os.environ["TILELANG_CACHE_DIR"] = str(path)
    try:
        yield path
    finally:
        os.environ.pop("TILELANG_CACHE_DIR", None)
