"""Trace a kernel's Python AST into tile IR.

Names hold Python constants (folded at compile time) or handles (runtime
values). Statements map as follows:

* ``for`` over ``range`` / ``tl.pipeline`` becomes ``tl.for``; names reassigned
  in the body that exist before it are carried; names first bound in the body
  are local to it. ``tl.static_range`` and constant tuples unroll.
* ``if`` on a constant picks a branch at compile time; on a runtime scalar it
  becomes ``tl.if`` yielding the names either branch reassigns.
* ``return`` inside an ``if`` moves the rest of the kernel into the other branch.
* calls: ``tl.*`` builtins emit IR, ``@tl.func`` helpers are inlined, builtins
  and ``math`` functions fold on constants; anything else is a CompileError.
"""

from __future__ import annotations

import ast
import builtins
import math
from typing import Any

from tilelang.errors import CompileError, SourceLoc, TileLangError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import TraceContext
from tilelang.frontend.control_flow import ControlFlowMixin, ReturnSignal, Unavailable
from tilelang.frontend.while_loop import WhileMixin
from tilelang.frontend.handles import Handle, SharedHandle, TensorHandle, TileHandle
from tilelang.frontend.liveness import suffix_live
from tilelang.frontend.source import FunctionSource

_BINOPS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.BitAnd: "and", ast.BitOr: "or", ast.BitXor: "xor",
    ast.LShift: "shl", ast.RShift: "shr",
}
_CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_FOLDABLE_MODULES = (builtins, math)
_UNSUPPORTED = {
    ast.Try: "`try` is not supported",
    ast.With: "`with` is not supported",
    ast.Raise: "`raise` is not supported",
    ast.Delete: "`del` is not supported",
    ast.Global: "`global` is not supported",
    ast.Nonlocal: "`nonlocal` is not supported",
    ast.FunctionDef: "nested function definitions are not supported",
    ast.ClassDef: "class definitions are not supported",
    ast.Import: "imports are not supported inside a kernel",
    ast.ImportFrom: "imports are not supported inside a kernel",
    ast.Lambda: "lambdas are not supported",
    ast.GeneratorExp: "generator expressions are not supported",
    ast.DictComp: "dict comprehensions are not supported",
    ast.SetComp: "set comprehensions are not supported",
    ast.Await: "`await` is not supported",
    ast.Yield: "`yield` is not supported",
}
_UNSUPPORTED_HINTS = {
    ast.Try: "tile ops are bounds-safe; use tl.device_assert for checks",
    ast.FunctionDef: "define a helper at module level and decorate it with @tl.func",
    ast.Lambda: "define a helper at module level and decorate it with @tl.func",
}


class Tracer(ControlFlowMixin, WhileMixin, ast.NodeVisitor):
    """Visits one function's AST (a kernel, or an inlined ``@tl.func``) and emits IR."""

    def __init__(self, ctx: TraceContext, source: FunctionSource, scope: dict[str, Any],
                 is_helper: bool = False, depth: int = 0) -> None:
        self.ctx = ctx
        self.source = source
        self.scope = scope
        self.is_helper = is_helper
        self.depth = depth
        self.loop_depth = 0
        # liveness (see liveness.py): names live after the block being traced, after
        # the statement being traced, and at the innermost loop's break/continue
        self.block_live: frozenset[str] = frozenset()
        self.stmt_live: frozenset[str] = frozenset()
        self.loop_live: Any = None

    # -- entry points --------------------------------------------------------
    def run_body(self) -> Any:
        """Trace the function body; return a helper's return value (or None)."""
        result = self.visit_stmts(self.source.node.body, ())
        return result.value if isinstance(result, ReturnSignal) else None

    def loc_of(self, node: ast.AST) -> SourceLoc:
        return self.source.loc(node)

    def error(self, node: ast.AST, message: str, hint: str | None = None) -> CompileError:
        return CompileError(message, kernel=self.ctx.kernel, loc=self.loc_of(node), hint=hint)

    def visit(self, node: ast.AST) -> Any:
        lineno = getattr(node, "lineno", None)
        saved = self.ctx.loc
        if lineno is not None:
            self.ctx.loc = self.loc_of(node)
        try:
            return super().visit(node)
        except TileLangError as e:
            raise e.with_context(kernel=self.ctx.kernel, loc=self.ctx.loc) from None
        except RecursionError:
            raise
        except Exception as e:  # turn any Python failure into a located CompileError
            raise self.error(node, f"{type(e).__name__}: {e}") from None
        finally:
            self.ctx.loc = saved

    def generic_visit(self, node: ast.AST) -> Any:
        for cls, message in _UNSUPPORTED.items():
            if isinstance(node, cls):
                raise self.error(node, message, _UNSUPPORTED_HINTS.get(cls))
        raise self.error(node, f"Python construct `{type(node).__name__}` is not supported "
                               f"inside a kernel")

    # -- statements ------------------------------------------------------------
    def visit_stmts(self, stmts: list[ast.stmt], cont: tuple[ast.stmt, ...]) -> Any:
        """Trace ``stmts`` then ``cont``; a ReturnSignal if they end the function."""
        seq = list(stmts) + list(cont)
        live_after = suffix_live(seq, self.block_live, self.loop_live)
        for i, stmt in enumerate(seq):
            self.stmt_live = live_after[i]
            if isinstance(stmt, ast.Return):
                return ReturnSignal(self.visit_return(stmt))
            if isinstance(stmt, ast.If) and _contains_return(stmt):
                return self.visit_if_with_return(stmt, tuple(seq[i + 1:]))
            self.visit(stmt)
        return None

    def visit_return(self, node: ast.Return) -> Any:
        self.ctx.loc = self.loc_of(node)
        if self.loop_depth:
            raise self.error(node, "`return` inside a loop is not supported",
                             "guard the rest of the loop body with `if` instead")
        if node.value is None:
            return None
        if not self.is_helper:
            raise self.error(node, "a kernel cannot return a value",
                             "write results to an output tensor with tl.store")
        return self.visit(node.value)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # docstring
        self.visit(node.value)

    def visit_Pass(self, node: ast.Pass) -> None:
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        value = self.visit(node.value)
        for target in node.targets:
            self.assign(target, value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is None:
            return
        self.assign(node.target, self.visit(node.value))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if not isinstance(node.target, ast.Name):
            raise self.error(node, "only names can be updated with an augmented assignment",
                             "tiles are values: compute a new tile and rebind the name")
        current = self.lookup(node.target.id, node.target)
        value = self.apply_binop(node.op, current, self.visit(node.value), node)
        self.assign(node.target, value)

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.scope[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            if not isinstance(value, (tuple, list)):
                raise self.error(target, f"cannot unpack {sem._describe(value)}")
            if len(value) != len(target.elts):
                raise self.error(target, f"cannot unpack {len(value)} values into "
                                         f"{len(target.elts)} names",
                                 "a tensor's .shape has one entry per dimension of the "
                                 "array passed for it")
            for t, v in zip(target.elts, value):
                self.assign(t, v)
        elif isinstance(target, ast.Subscript):
            raise self.error(target, "assigning to an element or slice is not supported",
                             "tiles are values: build a new tile (e.g. with tl.where)")
        else:
            raise self.error(target, f"cannot assign to `{ast.unparse(target)}`")

    def visit_Assert(self, node: ast.Assert) -> None:
        cond = self.visit(node.test)
        msg = self.visit(node.msg) if node.msg is not None else ast.unparse(node.test)
        if sem.is_runtime(cond):
            from tilelang.frontend import language
            language.device_assert(cond, str(msg))
        elif not cond:
            raise self.error(node, f"assertion failed at compile time: {msg}")

    # -- expressions -----------------------------------------------------------
    def lookup(self, name: str, node: ast.AST) -> Any:
        if name in self.scope:
            value = self.scope[name]
        elif name in self.source.globals:
            value = self.source.globals[name]
        elif hasattr(builtins, name):
            value = getattr(builtins, name)
        else:
            raise self.error(node, f"name '{name}' is not defined")
        if isinstance(value, Unavailable):
            raise self.error(node, f"'{name}' {value.reason}", value.hint)
        return value

    def visit_Name(self, node: ast.Name) -> Any:
        return self.lookup(node.id, node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self._elements(node.elts))

    def visit_List(self, node: ast.List) -> tuple:
        return tuple(self._elements(node.elts))

    def _elements(self, elts: list[ast.expr]) -> list[Any]:
        out: list[Any] = []
        for e in elts:
            if isinstance(e, ast.Starred):
                v = self.visit(e.value)
                if not isinstance(v, (tuple, list)):
                    raise self.error(e, f"cannot unpack {sem._describe(v)} with *")
                out.extend(v)
            else:
                out.append(self.visit(e))
        return out

    def visit_JoinedStr(self, node: ast.JoinedStr) -> str:
        parts = []
        for v in node.values:
            x = self.visit(v.value) if isinstance(v, ast.FormattedValue) else v.value
            if isinstance(x, Handle):
                raise self.error(node, "f-strings can only format compile-time values",
                                 "pass runtime values to tl.print as arguments")
            if isinstance(v, ast.FormattedValue):
                spec = self.visit(v.format_spec) if v.format_spec is not None else ""
                x = format(x, spec)
            parts.append(str(x))
        return "".join(parts)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        return self.visit(node.value)

    def visit_ListComp(self, node: ast.ListComp) -> tuple:
        if len(node.generators) != 1 or node.generators[0].is_async:
            raise self.error(node, "only simple list comprehensions are supported")
        gen = node.generators[0]
        iterable = self.visit(gen.iter)
        if isinstance(iterable, Handle) or not isinstance(iterable, (tuple, list, range)):
            raise self.error(node, "list comprehensions must iterate over compile-time values, "
                                   f"not {sem._describe(iterable)}",
                             "use tile operations (tl.arange, broadcasting) for runtime data")
        out = []
        saved = dict(self.scope)
        for item in iterable:
            self.assign(gen.target, item)
            if all(self._static_truth(self.visit(c), c) for c in gen.ifs):
                out.append(self.visit(node.elt))
        self.scope = saved
        return tuple(out)

    def _static_truth(self, value: Any, node: ast.AST) -> bool:
        if isinstance(value, Handle):
            raise self.error(node, "this condition must be a compile-time value")
        return bool(value)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        obj = self.visit(node.value)
        try:
            return getattr(obj, node.attr)
        except AttributeError:
            raise self.error(node, f"{sem._describe(obj)} has no attribute '{node.attr}'") \
                from None

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        obj = self.visit(node.value)
        index = self.visit(node.slice)
        if isinstance(obj, TileHandle):
            if obj.is_scalar:
                raise self.error(node, "cannot index a scalar")
            return sem.subscript(obj, index)
        if isinstance(obj, (TensorHandle, SharedHandle)):
            raise self.error(node, f"cannot index {sem._describe(obj)} directly",
                             "use tl.load(X, offsets, shape) / s.load() to get a tile")
        if isinstance(index, Handle):
            raise self.error(node, "a compile-time sequence cannot be indexed by a runtime value")
        return obj[index]

    def visit_Slice(self, node: ast.Slice) -> slice:
        parts = [self.visit(p) if p is not None else None for p in (node.lower, node.upper,
                                                                     node.step)]
        return slice(*parts)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        return self.apply_binop(node.op, self.visit(node.left), self.visit(node.right), node)

    def apply_binop(self, op: ast.operator, a: Any, b: Any, node: ast.AST) -> Any:
        fn = _BINOPS.get(type(op))
        if fn is None:
            raise self.error(node, f"operator {type(op).__name__} is not supported")
        if not sem.is_runtime(a) and not sem.is_runtime(b) and \
                not isinstance(a, (int, float)) and fn in ("add", "mul"):
            return _PY_FOLD[fn](a, b)  # tuples and strings concatenate/repeat
        return sem.binary(fn, a, b)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        x = self.visit(node.operand)
        if isinstance(node.op, ast.UAdd):
            return x
        fn = {ast.USub: "neg", ast.Not: "not", ast.Invert: "invert"}[type(node.op)]
        return sem.unary(fn, x)

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        result: Any = True
        for op, right_node in zip(node.ops, node.comparators):
            right = self.visit(right_node)
            if isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
                if sem.is_runtime(left) or sem.is_runtime(right):
                    raise self.error(node, f"`{type(op).__name__.lower()}` needs compile-time "
                                           "operands")
                r = {ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
                     ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}[
                    type(op)](left, right)
            else:
                r = sem.binary(_CMPOPS[type(op)], left, right)
            result = r if result is True else self._logical("and", result, r)
            left = right
        return result

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        fn = "and" if isinstance(node.op, ast.And) else "or"
        value = self.visit(node.values[0])
        for operand in node.values[1:]:
            if not sem.is_runtime(value):  # short-circuit on constants, as Python does
                if (fn == "and" and not value) or (fn == "or" and value):
                    return value
                value = self.visit(operand)
                continue
            value = self._logical(fn, value, self.visit(operand))
        return value

    def _logical(self, fn: str, a: Any, b: Any) -> Any:
        if not sem.is_runtime(a) and not sem.is_runtime(b):
            return (a and b) if fn == "and" else (a or b)
        if not sem.is_runtime(a):
            return (b if a else False) if fn == "and" else (True if a else b)
        if not sem.is_runtime(b):
            return (a if b else False) if fn == "and" else (True if b else a)
        a = sem.binary("ne", a, 0) if not a.dtype.is_bool else a
        b = sem.binary("ne", b, 0) if not b.dtype.is_bool else b
        return sem.binary(fn, a, b)

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        cond = self.visit(node.test)
        if not sem.is_runtime(cond):
            return self.visit(node.body) if cond else self.visit(node.orelse)
        return sem.where(cond, self.visit(node.body), self.visit(node.orelse))

    def visit_Call(self, node: ast.Call) -> Any:
        fn = self.visit(node.func)
        args = self._elements(node.args)
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                v = self.visit(kw.value)
                if not isinstance(v, dict):
                    raise self.error(kw, "** needs a compile-time dict")
                kwargs.update(v)
            else:
                kwargs[kw.arg] = self.visit(kw.value)
        return self.call(fn, args, kwargs, node)

    def call(self, fn: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        from tilelang.frontend import language
        name = ast.unparse(node.func)
        if getattr(fn, "__tl_inlines__", False):
            # a builtin that traces a @tl.func it is given (tl.associative_scan)
            return fn(*args, **kwargs, _inline=lambda f, a: f.inline(self, a, {}, node))
        if getattr(fn, "__tl_builtin__", False) or _is_handle_method(fn) or \
                fn in (language.static_range, language.pipeline):
            return fn(*args, **kwargs)
        # (kernel_def's classes say what they are: kernel_def imports this module)
        if getattr(type(fn), "__tl_func__", False):
            return fn.inline(self, args, kwargs, node)
        if getattr(type(fn), "__tl_kernel__", False):
            raise self.error(node, f"kernel '{fn.name}' cannot be called from a kernel",
                             "decorate the shared code with @tl.func instead")
        if fn is range and any(_has_runtime(a) for a in args):
            raise self.error(node, "range() with runtime bounds can only be a for-loop "
                                   "iterator", "write `for i in range(n):`")
        if getattr(fn, "__module__", None) in ("builtins", "math") or \
                any(getattr(m, getattr(fn, "__name__", ""), None) is fn
                    for m in _FOLDABLE_MODULES):
            runtime = [a for a in list(args) + list(kwargs.values()) if _has_runtime(a)]
            if runtime:
                alt = {"min": "tl.minimum", "max": "tl.maximum", "abs": "tl.abs",
                       "exp": "tl.exp", "sqrt": "tl.sqrt", "log": "tl.log",
                       "float": ".to(tl.f32)", "int": ".to(tl.i32)"}.get(fn.__name__)
                raise self.error(
                    node, f"{name}() is evaluated at compile time, but it was given "
                          f"{sem._describe(runtime[0])}",
                    f"use {alt}" if alt else "use the tl.* equivalent on runtime values")
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                raise self.error(node, f"{name}(...) failed at compile time: "
                                       f"{type(e).__name__}: {e}") from None
        if isinstance(fn, type) and issubclass(fn, Exception):
            raise self.error(node, "raising exceptions is not supported",
                             "use tl.device_assert")
        raise self.error(
            node, f"call to `{name}`, which is not a tl function, is not supported in a kernel",
            "decorate the helper with @tl.func to inline it, or compute the value "
            "outside the kernel and pass it as an argument")


_PY_FOLD = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b}


def _is_handle_method(fn: Any) -> bool:
    return isinstance(getattr(fn, "__self__", None), Handle)


def _has_runtime(x: Any) -> bool:
    if isinstance(x, Handle):
        return True
    if isinstance(x, (tuple, list)):
        return any(_has_runtime(i) for i in x)
    return False


def _contains_return(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Return):
            return True
    return False
