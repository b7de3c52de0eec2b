"""Errors a user can cause, each naming the kernel, the Python source line and a fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLoc:
    """A position in the user's Python source."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class TileLangError(Exception):
    """Base class of every error tilelang raises on purpose."""

    def __init__(self, message: str, *, kernel: str | None = None,
                 loc: SourceLoc | None = None, hint: str | None = None) -> None:
        self.message = message
        self.kernel = kernel
        self.loc = loc
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.kernel:
            where.append(f"kernel '{self.kernel}'")
        if self.loc is not None:
            where.append(f"at {self.loc}")
        head = f"{' '.join(where)}: " if where else ""
        text = head + self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def with_context(self, *, kernel: str | None = None,
                     loc: SourceLoc | None = None) -> "TileLangError":
        """Fill in the kernel name and location if they are still unknown."""
        return type(self)(self.message, kernel=self.kernel or kernel,
                          loc=self.loc or loc, hint=self.hint)


class CompileError(TileLangError):
    """The kernel source cannot be compiled as written."""


class LaunchError(TileLangError):
    """A launch was given arguments, a grid or a target that cannot work."""


class KernelError(TileLangError):
    """A running kernel did something invalid (bad index, failed assert, race)."""

    def __init__(self, message: str, *, kernel: str | None = None,
                 loc: SourceLoc | None = None, hint: str | None = None,
                 program_id: tuple[int, ...] | None = None) -> None:
        self.program_id = program_id
        super().__init__(message, kernel=kernel, loc=loc, hint=hint)

    def _render(self) -> str:
        text = super()._render()
        if self.program_id is not None:
            first, _, rest = text.partition(": ")
            text = f"{first} (program_id={self.program_id}): {rest}" if rest else text
        return text

    def with_context(self, *, kernel: str | None = None,
                     loc: SourceLoc | None = None) -> "KernelError":
        return type(self)(self.message, kernel=self.kernel or kernel,
                          loc=self.loc or loc, hint=self.hint,
                          program_id=self.program_id)


class IRError(TileLangError):
    """The IR is malformed: a bug in a pass or in hand-written IR text."""
