"""Tuning results on disk: ``<cache dir>/autotune/<sha256>.json``.

A record's key covers the kernel (its name and ``source_hash``: its source, the
helpers it calls and the globals it reads), the key values of the launch (see
``space.key_values``), the device the timings come from (a GPU's name, or
``emulate:sm_90a``), tilelang's ``compiler_hash`` and the candidate set. The
record holds the best configuration and the whole table of the sweep (each
candidate's status, reason and median time), labelled with the timings' kind.

As in the compile cache, only JSON is written and writes are atomic (a
temporary file in the same folder, then ``os.replace``); a record that fails to
read or does not match its key is removed and the sweep runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from tilelang import knobs

RECORD_FORMAT = 1
FOLDER = "autotune"


def record_key(kernel: Any, key: dict[str, Any], device: str, configs: str) -> dict[str, Any]:
    """The fields a stored tuning depends on (``configs``: ``space.configs_digest``)."""
    from tilelang.runtime.cache_key import compiler_hash, source_hash
    return {"format": RECORD_FORMAT, "kernel": kernel.name, "source": source_hash(kernel),
            "key": key, "device": device, "compiler": compiler_hash(),
            "configs": hashlib.sha256(configs.encode()).hexdigest()}


def digest(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def record_path(fields: dict[str, Any]) -> Path:
    return knobs.cache_dir() / FOLDER / f"{digest(fields)}.json"


def load(fields: dict[str, Any]) -> dict[str, Any] | None:
    """The stored record for ``fields``, or ``None``; a corrupt record is removed."""
    path = record_path(fields)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("fields") != json.loads(
                json.dumps(fields, default=str)) or not isinstance(record.get("best"), dict):
            raise ValueError("record does not match its key")
        return record
    except (OSError, ValueError):
        try:
            path.unlink()
        except OSError:
            pass
        return None


def save(fields: dict[str, Any], record: dict[str, Any]) -> Path | None:
    """Write ``record`` (JSON) for ``fields`` atomically; ``None`` if the disk refuses
    (a tuning that cannot be stored is still used by this process)."""
    path = record_path(fields)
    data = dict(record, fields=fields, created=time.time())
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True, default=str)
        os.replace(tmp, path)
        return path
    except OSError as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        warnings.warn(f"tilelang: cannot store the tuning result in {path.parent}: {e}",
                      RuntimeWarning, stacklevel=3)
        return None


__all__ = ["FOLDER", "RECORD_FORMAT", "digest", "load", "record_key", "record_path", "save"]
