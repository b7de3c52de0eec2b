"""A Python function's source: its AST, file, line numbers and global names."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from tilelang.errors import CompileError, SourceLoc


class FunctionSource:
    """The parsed source of a decorated function, with positions in the original file."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.name = fn.__name__
        try:
            self.file = inspect.getsourcefile(fn) or fn.__code__.co_filename
            lines, first = inspect.getsourcelines(fn)
        except (OSError, TypeError) as e:
            raise CompileError(f"cannot read the source of '{fn.__name__}': {e}",
                               hint="define kernels in a .py file, not an interactive prompt"
                               ) from None
        text = textwrap.dedent("".join(lines))
        tree = ast.parse(text)
        node = tree.body[0]
        if not isinstance(node, ast.FunctionDef):
            raise CompileError(f"'{fn.__name__}' is not a plain function definition")
        self.node: ast.FunctionDef = node
        self.line_offset = first - 1
        self.col_offset = len(lines[0]) - len(lines[0].lstrip())
        closure = {}
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    closure[name] = cell.cell_contents
                except ValueError:
                    pass
        self.globals: dict[str, Any] = {**fn.__globals__, **closure}
        self.text = "".join(lines)

    def loc(self, node: ast.AST) -> SourceLoc:
        """Where ``node`` is in the user's file."""
        line = getattr(node, "lineno", 1) + self.line_offset
        col = getattr(node, "col_offset", 0) + self.col_offset
        return SourceLoc(self.file, line, col)

    @property
    def def_loc(self) -> SourceLoc:
        return self.loc(self.node)


def import_file(file: Path, tag: str) -> ModuleType:
    """Import the Python file ``file`` as a module named ``_tilelang_<tag>_<stem>``, with
    its folder on ``sys.path`` while it runs (so it imports its neighbours); an
    ``ImportError`` if it cannot be loaded. The command line and the autotuner's
    workers load kernels this way."""
    spec = importlib.util.spec_from_file_location(f"_tilelang_{tag}_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module
