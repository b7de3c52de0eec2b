"""Which stream a launch goes on: the one the caller passes, else the current
torch or cupy stream when the arguments are theirs, else the default stream.

Shared by the NVIDIA and AMD launch paths (a ROCm build of torch or cupy names
its HIP stream the same way) and by the cache-hit runner of ``param_buffer``.
"""

from __future__ import annotations

import sys
from typing import Any

from tilelang.errors import LaunchError


def _torch_stream() -> int:
    return int(sys.modules["torch"].cuda.current_stream().cuda_stream)


def _cupy_stream() -> int:
    return int(sys.modules["cupy"].cuda.get_current_stream().ptr)


def _no_stream() -> int:
    return 0


_STREAM_SOURCES: dict[type, Any] = {}


def default_stream_source(args: Any) -> Any:
    """What ``resolve_stream(None, args)`` calls to find the stream, chosen from the
    arguments' types (a launch's dispatch key fixes them, so a cache hit can keep it):
    the current torch or cupy stream's reader, else one that gives the default stream."""
    for a in args:
        source = _STREAM_SOURCES.get(type(a))
        if source is None:
            module = type(a).__module__
            source = _STREAM_SOURCES[type(a)] = (
                _torch_stream if module.startswith("torch") else
                _cupy_stream if module.startswith("cupy") else _no_stream)
        if source is not _no_stream:
            return source
    return _no_stream


def resolve_stream(stream: Any, args: list[Any]) -> int:
    """The ``CUstream`` handle to launch on: ``stream`` (a torch or cupy stream, an object
    with ``__cuda_stream__``, a ``CUstream`` or an int), else the current torch or cupy
    stream when the arguments are torch tensors or cupy arrays, else the default stream."""
    if stream is None:
        return default_stream_source(args)()
    if isinstance(stream, int):
        return stream
    for attr in ("cuda_stream", "ptr", "handle"):
        value = getattr(stream, attr, None)
        if isinstance(value, int):
            return value
    protocol = getattr(stream, "__cuda_stream__", None)
    if callable(protocol):
        return int(protocol()[1])
    try:
        return int(stream)
    except (TypeError, ValueError):
        raise LaunchError(f"stream={stream!r} is not a CUDA stream",
                          hint="pass a torch.cuda.Stream, a cupy stream, a CUstream or an "
                               "int handle") from None


__all__ = ["default_stream_source", "resolve_stream"]
