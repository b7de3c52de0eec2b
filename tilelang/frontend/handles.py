"""Frontend handles: what names hold while a kernel's Python source is traced.

A name inside a kernel holds either a plain Python value (a compile-time
constant: int, float, bool, str, dtype, tuple, ...) or one of these handles,
which wrap an IR value and expose the language's methods (``x.to``,
``x.reshape``, ``X.shape``, ``s.load()``). Methods emit IR through the current
tracing context (see ``context.py``).
"""

from __future__ import annotations

from typing import Any, Callable

from tilelang.ir.types import DType, ScalarType, SharedType, TensorType, TileType
from tilelang.ir.values import Value


class Handle:
    """Base of handles to IR values."""

    __slots__ = ("value",)

    def __init__(self, value: Value) -> None:
        self.value = value

    def __bool__(self) -> bool:
        from tilelang.errors import CompileError
        raise CompileError(
            "a runtime value has no compile-time truth value",
            hint="use it in an `if` statement (runtime branch) or tl.where; "
                 "`and`/`or`/`not` on runtime values need parentheses-free scalars")

    def __iter__(self) -> Any:
        from tilelang.errors import CompileError
        raise CompileError(f"cannot iterate over a {self.value.type}",
                           hint="index tensors with tl.load windows, not Python iteration")


# The language rules (``semantic.py``) the methods below apply. semantic.py builds on
# these classes, so it hands its rules in when it is imported (``bind_rules``) instead
# of being imported from here; a handle exists only while a kernel is traced, by which
# time the tracer has imported it.
_RULES: dict[str, Callable[..., Any]] = {}


def bind_rules(**rules: Callable[..., Any]) -> None:
    """Give the handle methods the language rules they apply (called by semantic.py)."""
    _RULES.update(rules)


class TileHandle(Handle):
    """A register tile or a scalar (a tile of shape ``()``)."""

    __slots__ = ()

    @property
    def is_scalar(self) -> bool:
        return isinstance(self.value.type, ScalarType)

    @property
    def shape(self) -> tuple[int, ...]:
        t = self.value.type
        return t.shape if isinstance(t, TileType) else ()

    @property
    def dtype(self) -> DType:
        return self.value.type.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def T(self) -> "TileHandle":
        return _RULES["trans"](self)

    def to(self, dtype: DType) -> "TileHandle":
        """This value converted to ``dtype``."""
        return _RULES["cast"](self, dtype)

    def reshape(self, *shape: Any) -> "TileHandle":
        """Same elements, another static shape (``x.reshape((1, N))`` or ``x.reshape(1, N)``)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _RULES["reshape"](self, shape)

    def __repr__(self) -> str:
        return f"<{self.value.type} %{self.value.name}>"


class TensorHandle(Handle):
    """A tensor kernel argument: runtime shape and strides, static dtype and rank."""

    __slots__ = ("name", "_dims", "_strides")

    def __init__(self, value: Value, name: str) -> None:
        super().__init__(value)
        self.name = name
        self._dims: tuple[TileHandle, ...] = ()
        self._strides: tuple[TileHandle, ...] = ()

    def init_dims(self, dims: tuple[TileHandle, ...], strides: tuple[TileHandle, ...]) -> None:
        """Set the shape and stride values, defined once at the kernel's entry so that
        every region can use them."""
        self._dims, self._strides = dims, strides

    @property
    def type(self) -> TensorType:
        return self.value.type

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.rank

    @property
    def shape(self) -> tuple[TileHandle, ...]:
        return self._dims

    def stride(self, dim: int) -> TileHandle:
        """The stride of dimension ``dim`` in elements (a runtime i32)."""
        return self._strides[_RULES["normalize_axis"](dim, self.ndim, "stride")]

    def __repr__(self) -> str:
        return f"<{self.type} {self.name}>"


class SharedHandle(Handle):
    """A shared-memory buffer from ``tl.alloc_shared``."""

    __slots__ = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.type.shape

    @property
    def dtype(self) -> DType:
        return self.value.type.dtype

    def load(self) -> TileHandle:
        """The buffer's contents as a register tile."""
        return _RULES["shared_load"](self)

    def store(self, tile: Any) -> None:
        """Overwrite the whole buffer with ``tile``."""
        _RULES["shared_store"](self, tile)

    def __repr__(self) -> str:
        return f"<{self.value.type} %{self.value.name}>"


def wrap(value: Value) -> Handle:
    """The handle kind for an IR value of any type."""
    t = value.type
    if isinstance(t, (TileType, ScalarType)):
        return TileHandle(value)
    if isinstance(t, SharedType):
        return SharedHandle(value)
    return TensorHandle(value, value.name)
