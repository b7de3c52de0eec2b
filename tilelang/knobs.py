"""Configuration from the environment, in one typed place.

Read at access time so tests and users can change the environment at run time.
"""

from __future__ import annotations

import os
from pathlib import Path


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def interpret() -> bool:
    """``TILELANG_INTERPRET=1``: run every launch in the reference interpreter."""
    return _flag("TILELANG_INTERPRET")


def default_target() -> str | None:
    """``TILELANG_TARGET``: the target used when a launch names none."""
    value = os.environ.get("TILELANG_TARGET", "").strip()
    return value or None


def target_settings() -> tuple[str | None, str | None]:
    """The raw ``TILELANG_INTERPRET`` and ``TILELANG_TARGET`` values: the launcher's
    cache key for the default target (two lookups, no parsing)."""
    return os.environ.get("TILELANG_INTERPRET"), os.environ.get("TILELANG_TARGET")


def cache_dir() -> Path:
    """``TILELANG_CACHE_DIR``, else ``~/.cache/tilelang``."""
    value = os.environ.get("TILELANG_CACHE_DIR")
    return Path(value) if value else Path.home() / ".cache" / "tilelang"


def disk_cache() -> bool:
    """``TILELANG_CACHE=0`` (or ``false``/``no``/``off``): compile without reading or
    writing the disk cache; on by default."""
    value = os.environ.get("TILELANG_CACHE", "").strip().lower()
    return value not in ("0", "false", "no", "off")


def ptxas_path() -> str | None:
    """``TILELANG_PTXAS``: the ptxas binary to use instead of the nvidia-cuda-nvcc wheel's."""
    value = os.environ.get("TILELANG_PTXAS", "").strip()
    return value or None


def hipcc_path() -> str | None:
    """``TILELANG_HIPCC``: the hipcc binary to use instead of the one on ``PATH``."""
    value = os.environ.get("TILELANG_HIPCC", "").strip()
    return value or None
