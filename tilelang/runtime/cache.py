"""The disk cache of compiled kernels, under ``knobs.cache_dir()``.

An entry is a directory named by its key's sha256 (``cache_key.make_key``)
holding ``meta.json`` and the artifacts: the final IR as text (thread IR for the
NVIDIA and ``emulate:*`` targets, tile IR for ``interp``) and the target's own
files (PTX, cubin and ptxas log for NVIDIA). ``meta.json`` records the kernel,
target, key fields, creation time, compiler hash and each artifact's file,
sha256 and size. Only JSON, text and raw bytes are written: nothing is
unpickled or executed when an entry is read.

Writes are atomic: an entry is built in a temporary directory inside the cache
directory and renamed into place, so readers see a whole entry or none. When
several processes compile one kernel at once each builds its own temporary
entry; the first rename wins and the others discard theirs (the entries are
equivalent). Reading checks everything (JSON, key, sizes, checksums, that the
IR parses): an entry that fails is removed and the kernel recompiled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilelang import knobs
from tilelang.errors import IRError
from tilelang.runtime.cache_key import CacheKey, make_key
from tilelang.runtime.compiled import CompiledKernel

ENTRY_FORMAT = 1
META = "meta.json"
IR_FILE = "ir.txt"
# target artifact name -> (file name, text?)
ARTIFACT_FILES: dict[str, tuple[str, bool]] = {
    "ptx": ("kernel.ptx", True),
    "cubin": ("kernel.cubin", False),
    "ptxas_log": ("ptxas.log", True),
    "hip": ("kernel.hip", True),
    "hsaco": ("kernel.hsaco", False),
    "hsaco_arch": ("hsaco.arch", True),
    "hipcc_log": ("hipcc.log", True),
}
_ENTRY_NAME = re.compile(r"^[0-9a-f]{64}$")


class CorruptEntry(ValueError):
    """An entry whose files do not match its ``meta.json``."""


def enabled() -> bool:
    """Whether compiles read and write the disk cache (``TILELANG_CACHE=0`` turns it off)."""
    return knobs.disk_cache()


def cache_key(kernel: Any, spec: Any, target: str) -> CacheKey | None:
    """The key to look ``kernel``/``spec``/``target`` up under, or ``None`` when the disk
    cache is off or the specialization has no stable key."""
    if not enabled():
        return None
    return make_key(kernel, spec, target)


@dataclass
class Entry:
    """A cached compile, checksums verified: the final IR text and the target's artifacts."""

    path: Path
    meta: dict[str, Any]
    ir_text: str
    artifacts: dict[str, str | bytes]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _discard(path: Path) -> None:
    """Remove an entry; renamed away first so that no reader sees it half deleted and
    two processes removing it at once do not trip over each other."""
    trash = path.parent / f".trash-{path.name[:16]}-{os.getpid()}-{time.monotonic_ns()}"
    try:
        os.replace(path, trash)
    except OSError:
        return  # already gone (another process removed or replaced it)
    shutil.rmtree(trash, ignore_errors=True)


def _read_file(path: Path, record: Any) -> bytes:
    if not isinstance(record, dict):
        raise CorruptEntry("bad artifact record")
    data = (path / str(record["file"])).read_bytes()
    if len(data) != record["size"] or _sha(data) != record["sha256"]:
        raise CorruptEntry(f"{record['file']}: size or checksum mismatch")
    return data


def _read_entry(path: Path, key: CacheKey) -> Entry:
    meta = json.loads((path / META).read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != ENTRY_FORMAT or \
            meta.get("key") != key.digest or meta.get("fields") != key.fields:
        raise CorruptEntry("meta.json does not describe this key")
    ir_text = _read_file(path, meta["ir"]).decode("utf-8")
    artifacts: dict[str, str | bytes] = {}
    for name, record in meta["artifacts"].items():
        data = _read_file(path, record)
        artifacts[name] = data.decode("utf-8") if record.get("text") else data
    return Entry(path, meta, ir_text, artifacts)


def load(key: CacheKey) -> Entry | None:
    """The entry for ``key``, or ``None`` on a miss. A corrupt entry (unreadable, bad
    JSON, wrong key, missing file, size or checksum mismatch) is removed and reported
    as a miss; IR that does not parse is caught when it is parsed (``rebuild``)."""
    path = knobs.cache_dir() / key.digest
    if not path.is_dir():
        return None
    try:
        return _read_entry(path, key)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        # json's and utf-8's errors are ValueErrors, as is CorruptEntry
        _discard(path)
        return None


def store(key: CacheKey, kernel_name: str, target: str, ir_text: str,
          artifacts: dict[str, Any]) -> Path | None:
    """Write an entry for ``key`` (the artifacts named in ``ARTIFACT_FILES`` that are
    present); returns its directory, or ``None`` if it could not be written (a
    read-only or full disk only costs the cache, never the compile)."""
    root = knobs.cache_dir()
    final = root / key.digest
    tmp: Path | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key.digest[:16]}-", dir=root))
        data = ir_text.encode("utf-8")
        (tmp / IR_FILE).write_bytes(data)
        meta: dict[str, Any] = {
            "format": ENTRY_FORMAT, "key": key.digest, "kernel": kernel_name,
            "target": target, "created": time.time(), "compiler": key.fields["compiler"],
            "fields": key.fields,
            "ir": {"file": IR_FILE, "sha256": _sha(data), "size": len(data), "text": True},
            "artifacts": {},
        }
        for name, (file, text) in ARTIFACT_FILES.items():
            value = artifacts.get(name)
            if value is None:
                continue
            data = value.encode("utf-8") if text else bytes(value)
            (tmp / file).write_bytes(data)
            meta["artifacts"][name] = {"file": file, "sha256": _sha(data),
                                       "size": len(data), "text": text}
        # meta.json last: an entry with a meta file has all its files
        (tmp / META).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            # Another process stored this key first; its entry is equivalent.
            shutil.rmtree(tmp, ignore_errors=True)
        return final
    except OSError as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        warnings.warn(f"tilelang: cannot write the disk cache entry in {root}: {e}",
                      RuntimeWarning, stacklevel=3)
        return None


def store_compiled(key: CacheKey, compiled: Any) -> Path | None:
    """Store a freshly compiled ``CompiledKernel`` (its final IR and artifacts)."""
    from tilelang.ir.printer import print_module
    return store(key, compiled.name, compiled.target, print_module(compiled.module),
                 compiled.artifacts)


def rebuild(target: Any, kernel: Any, spec: Any, key: CacheKey, entry: Entry,
            keep_stages: bool) -> CompiledKernel:
    """The ``CompiledKernel`` of a cache hit, finished by ``target.finish_cached``.

    The IR is parsed when first needed: an NVIDIA hit whose PTX and cubin are cached
    never needs it until something asks for ``module`` (parsing a large kernel's thread
    IR costs about as much as lowering it). When the caller asked for every stage
    (``kernel.compile``, ``tilelang ir``) the stages are recomputed the first time they
    are read.
    """
    compiled = _CachedKernel(kernel.name, target.name, spec, None, [], None,
                             dict(entry.artifacts))
    compiled.pending = (target, kernel, key, entry)
    if keep_stages:
        compiled.restage = lambda: target.lower(kernel, spec, keep_stages=True).stages
    target.finish_cached(compiled)
    return compiled


class _CachedKernel(CompiledKernel):
    """A cache hit: the module is parsed from the cached IR, and the stages (when asked
    for) recompiled, on first use."""

    pending: Any = None
    restage: Any = None

    @property  # type: ignore[override]
    def module(self) -> Any:
        if self.pending is not None:
            self._module, self.pending = _parse_or_relower(*self.pending, self.spec), None
        return self._module

    @module.setter
    def module(self, value: Any) -> None:
        self._module = value

    @property  # type: ignore[override]
    def stages(self) -> list[tuple[str, Any]]:
        if self.restage is not None:
            self._stages, self.restage = self.restage(), None
        return self._stages

    @stages.setter
    def stages(self, value: list[tuple[str, Any]]) -> None:
        self._stages = value


def _parse_or_relower(target: Any, kernel: Any, key: CacheKey, entry: Entry,
                      spec: Any) -> Any:
    """The cached module; if its text does not parse the entry is not trusted: it is
    removed, the kernel lowered again and the entry rewritten."""
    from tilelang.ir.parser import parse_module
    from tilelang.ir.printer import print_module
    try:
        return parse_module(entry.ir_text)
    except IRError:
        _discard(entry.path)
    module = target.lower(kernel, spec).module
    store(key, kernel.name, target.name, print_module(module), entry.artifacts)
    return module


@dataclass
class EntryInfo:
    """One entry as ``tilelang cache list`` shows it."""

    key: str
    kernel: str
    target: str
    size: int
    created: float
    path: Path

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "kernel": self.kernel, "target": self.target,
                "size": self.size, "created": self.created, "path": str(self.path)}


def entries() -> list[EntryInfo]:
    """Every entry in the cache directory, oldest first. Entries whose metadata cannot
    be read are listed with kernel ``?`` (they are rebuilt when next used)."""
    root = knobs.cache_dir()
    if not root.is_dir():
        return []
    out = []
    for path in root.iterdir():
        if not _ENTRY_NAME.match(path.name) or not path.is_dir():
            continue
        size = _size(path)
        try:
            meta = json.loads((path / META).read_text(encoding="utf-8"))
            kernel, target = str(meta["kernel"]), str(meta["target"])
            created = float(meta["created"])
        except (OSError, ValueError, KeyError, TypeError):
            kernel, target, created = "?", "?", _mtime(path)
        out.append(EntryInfo(path.name, kernel, target, size, created, path))
    return sorted(out, key=lambda e: (e.created, e.key))


def _size(path: Path) -> int:
    try:
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    except OSError:
        return 0  # removed while we looked


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def clear(kernel: str | None = None) -> int:
    """Remove every entry (or those of the kernel named ``kernel``) and any temporary
    directories left by interrupted writes; returns the number of entries removed."""
    removed = 0
    for info in entries():
        if kernel is None or info.kernel == kernel:
            _discard(info.path)
            removed += 1
    root = knobs.cache_dir()
    if kernel is None and root.is_dir():
        for path in root.iterdir():
            if path.name.startswith((".tmp-", ".trash-")) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
    return removed


__all__ = ["ARTIFACT_FILES", "CorruptEntry", "Entry", "EntryInfo", "cache_key", "clear",
           "enabled", "entries", "load", "rebuild", "store", "store_compiled"]
