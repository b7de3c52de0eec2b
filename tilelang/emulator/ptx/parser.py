"""PTX text -> one decoded ``Entry`` per kernel: instructions, labels, registers,
parameters and ``.shared`` declarations.

The grammar is the subset of PTX ISA 8.x that LLVM's NVPTX back end and the
code generator's inline assembly write: one statement per line, ``{ ... }``
scopes (inline ``asm`` blocks declare scoped ``.reg``s, renamed here so every
register of the entry has one name), ``@%p`` / ``@!%p`` guards, and operands that
are registers, immediates (``0f`` / ``0d`` float bits, hex with an optional ``U``),
special registers, ``{...}`` vectors, ``[base+offset]`` addresses and TMA
``[map, {coords}]`` operands. Operands are decoded once here, so execution never
looks at text again. Text outside that subset is a ``PtxError`` naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tilelang.emulator.ptx.errors import PtxError


@dataclass(frozen=True)
class Reg:
    """A register: its class (``pred``, ``16``, ``32`` or ``64`` bits) and index in it."""

    kind: str
    index: int
    name: str


@dataclass(frozen=True)
class Imm:
    """An immediate; ``value`` is the integer, or for ``0f``/``0d`` the float's bits."""

    value: int
    is_float: bool = False
    width: int = 0          # 32 or 64 for a float immediate


@dataclass(frozen=True)
class Special:
    """A special register such as ``%tid.x``."""

    name: str


@dataclass(frozen=True)
class Sym:
    """A name: a parameter, a ``.shared`` variable or a label."""

    name: str


@dataclass(frozen=True)
class Vec:
    """A ``{a, b, ...}`` vector operand."""

    items: tuple


@dataclass(frozen=True)
class Addr:
    """``[base + offset]``; ``base`` a register, a symbol or ``None`` (an absolute address)."""

    base: Reg | Sym | None
    offset: int


@dataclass(frozen=True)
class TensorAddr:
    """``[tensor_map, {c0, c1, ...}]`` of ``cp.async.bulk.tensor``."""

    base: Reg | Sym
    coords: tuple


class Sink:
    """The ``_`` operand (a discarded result)."""

    def __repr__(self) -> str:
        return "_"


SINK = Sink()
Operand = Reg | Imm | Special | Sym | Vec | Addr | TensorAddr | Sink


@dataclass(frozen=True)
class Instr:
    """One decoded instruction: ``opcode`` is the dotted name (``ld.global.v4.b32``),
    ``parts`` its components; ``guard`` a predicate register and whether it is negated."""

    opcode: str
    parts: tuple
    operands: tuple
    guard: tuple | None
    line: int
    text: str
    loc: tuple | None = None    # (.file index, line) of the last ``.loc``


@dataclass(frozen=True)
class Param:
    """A kernel parameter: PTX type (``u32``, ``b8`` ...), byte size, alignment, offset in
    the parameter buffer (natural alignment, in declaration order)."""

    name: str
    type: str
    size: int
    align: int
    offset: int


@dataclass(frozen=True)
class SharedDecl:
    """A ``.shared`` variable; ``size`` 0 for the dynamic ``.extern`` array."""

    name: str
    align: int
    size: int
    extern: bool


@dataclass
class Entry:
    """One ``.entry``: its parameters, registers per class, instructions and labels."""

    name: str
    params: list[Param]
    instrs: list[Instr] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    reg_counts: dict[str, int] = field(default_factory=dict)
    max_threads: int | None = None

    @property
    def param_bytes(self) -> int:
        if not self.params:
            return 0
        last = self.params[-1]
        return last.offset + last.size


@dataclass
class PtxModule:
    """A parsed PTX module: target, address size, ``.shared`` variables, entries."""

    version: str
    target: str
    address_size: int
    shared: list[SharedDecl]
    entries: dict[str, Entry]
    files: dict[int, str]


_SIZES = {"b8": 1, "u8": 1, "s8": 1, "b16": 2, "u16": 2, "s16": 2, "f16": 2, "bf16": 2,
          "b32": 4, "u32": 4, "s32": 4, "f32": 4, "b64": 8, "u64": 8, "s64": 8, "f64": 8}
_KINDS = {"pred": "pred"} | {t: str(8 * max(n, 2)) for t, n in _SIZES.items()}
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_REG_DECL = re.compile(r"\.reg\s+\.(\w+)\s+(.+)")
_PARAM = re.compile(r"\.param\s+(?:\.\w+\s+|\d+\s+)*([\w$]+)(?:\[(\d+)\])?")
_SHARED = re.compile(r"(\.extern\s+)?\.shared\s+(?:\.align\s+(\d+)\s+)?\.(\w+)\s+([\w$]+)"
                     r"(?:\[(\d*)\])?")
_ENTRY = re.compile(r"(?:\.visible\s+|\.weak\s+)?\.entry\s+([\w$]+)\s*\((.*?)\)", re.DOTALL)
_INT = re.compile(r"-?(?:0[xX][0-9a-fA-F]+|\d+)U?$")


def _int(text: str) -> int:
    t = text.rstrip("U")
    neg = t.startswith("-")
    t = t[1:] if neg else t
    v = int(t, 16) if t[:2] in ("0x", "0X") else int(t)
    return -v if neg else v


def split_operands(text: str) -> list[str]:
    """Split at the commas outside ``{}`` and ``[]``."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


class _Scope:
    """Register names visible in one ``{}`` scope (inner scopes shadow outer ones)."""

    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.names: dict[str, Reg] = {}
        self.ranges: list[tuple[str, str, int]] = []   # (prefix, kind, count) of %r<N>

    def lookup(self, name: str) -> Reg | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            for prefix, kind, count in scope.ranges:
                if name.startswith(prefix) and name[len(prefix):].isdigit():
                    i = int(name[len(prefix):])
                    if i < count:
                        return Reg(kind, scope.base[(prefix, kind)] + i, name)
            scope = scope.parent
        return None


class _EntryParser:
    def __init__(self, entry: Entry, module_syms: set[str]) -> None:
        self.entry = entry
        self.syms = module_syms | {p.name for p in entry.params}
        self.scope = _Scope(None)
        self.scope.base = {}
        self.loc: tuple | None = None

    def alloc(self, kind: str, n: int) -> int:
        base = self.entry.reg_counts.get(kind, 0)
        self.entry.reg_counts[kind] = base + n
        return base

    def declare(self, ptype: str, names: str, line: int) -> None:
        kind = _KINDS.get(ptype)
        if kind is None:
            raise PtxError(f"line {line}: unsupported register type .{ptype}")
        for item in (s.strip() for s in names.split(",")):
            m = re.fullmatch(r"([%\w$]+)<(\d+)>", item)
            if m:
                prefix, count = m.group(1), int(m.group(2))
                self.scope.base[(prefix, kind)] = self.alloc(kind, count)
                self.scope.ranges.append((prefix, kind, count))
            else:
                self.scope.names[item] = Reg(kind, self.alloc(kind, 1), item)

    def operand(self, text: str, line: int) -> Operand:
        t = text.strip()
        if t == "_":
            return SINK
        if t.startswith("{"):
            return Vec(tuple(self.operand(x, line) for x in split_operands(t[1:-1])))
        if t.startswith("["):
            inner = t[1:-1].strip()
            parts = split_operands(inner)
            if len(parts) == 2 and parts[1].startswith("{"):
                base = self.operand(parts[0], line)
                coords = self.operand(parts[1], line)
                return TensorAddr(base, coords.items)
            m = re.fullmatch(r"([%\w$.]+)?\s*(?:\+\s*(-?\w+))?", inner)
            if not m:
                raise PtxError(f"line {line}: cannot read the address '{t}'")
            base_t, off_t = m.group(1), m.group(2)
            if base_t is not None and _INT.match(base_t):
                return Addr(None, _int(base_t) + (_int(off_t) if off_t else 0))
            base = self.operand(base_t, line) if base_t else None
            return Addr(base, _int(off_t) if off_t else 0)
        if re.fullmatch(r"0[fF][0-9a-fA-F]{8}", t):
            return Imm(int(t[2:], 16), True, 32)  # noqa: FURB166 (bits after "0f")
        if re.fullmatch(r"0[dD][0-9a-fA-F]{16}", t):
            return Imm(int(t[2:], 16), True, 64)  # noqa: FURB166 (bits after "0d")
        if _INT.match(t):
            return Imm(_int(t))
        reg = self.scope.lookup(t)
        if reg is not None:
            return reg
        if re.fullmatch(r"%(?:n?tid|n?ctaid)\.[xyz]|%laneid|%warpid|%nwarpid|%smid", t):
            return Special(t)
        if re.fullmatch(r"[\w$]+", t):
            return Sym(t)
        raise PtxError(f"line {line}: cannot read the operand '{t}' (an undeclared register?)")

    def statement(self, text: str, line: int, raw: str) -> None:
        guard = None
        if text.startswith("@"):
            g, _, text = text.partition(" ")
            text = text.strip()
            neg = g.startswith("@!")
            reg = self.operand(g[2:] if neg else g[1:], line)
            if not isinstance(reg, Reg) or reg.kind != "pred":
                raise PtxError(f"line {line}: the guard '{g}' is not a predicate register")
            guard = (reg, neg)
        opcode, _, rest = text.partition(" ")
        if "\t" in opcode:
            opcode, _, more = opcode.partition("\t")
            rest = more + " " + rest
        operands = tuple(self.operand(x, line) for x in split_operands(rest))
        self.entry.instrs.append(Instr(opcode, tuple(opcode.split(".")), operands, guard, line,
                                       raw.strip(), self.loc))

    def body(self, lines: list[tuple[int, str]]) -> None:
        pending = ""
        for line, raw in lines:
            text = raw.strip()
            if not text:
                continue
            if text == "{":
                child = _Scope(self.scope)
                child.base = {}
                self.scope = child
                continue
            if text == "}":
                if self.scope.parent is None:
                    raise PtxError(f"line {line}: unbalanced '}}'")
                self.scope = self.scope.parent
                continue
            if text.startswith(".loc"):
                parts = text.split()
                self.loc = (int(parts[1]), int(parts[2]))
                continue
            if text.startswith((".pragma", ".section", ".file")):
                continue
            m = re.fullmatch(r"([\w$]+):", text)
            if m:
                self.entry.labels[m.group(1)] = len(self.entry.instrs)
                continue
            pending = (pending + " " + text).strip()
            if not pending.endswith(";"):
                continue
            stmt, pending = pending[:-1].strip(), ""
            m = _REG_DECL.fullmatch(stmt)
            if m:
                self.declare(m.group(1), m.group(2), line)
            elif stmt.startswith("."):
                raise PtxError(f"line {line}: unsupported directive '{stmt.split()[0]}'")
            else:
                self.statement(stmt, line, raw)


def _params(text: str, name: str) -> list[Param]:
    params, offset = [], 0
    for item in (s.strip() for s in text.split(",") if s.strip()):
        m = _PARAM.fullmatch(item)
        if not m:
            raise PtxError(f"entry {name}: cannot read the parameter '{item}'")
        pname, count = m.group(1), m.group(2)
        words = item.split()
        types = [w[1:] for w in words if w[1:] in _SIZES]
        align_at = words.index(".align") if ".align" in words else -1
        if not types:
            raise PtxError(f"entry {name}: unsupported parameter type in '{item}'")
        ptype = types[0]
        # ".ptr .global .align N" is the pointee's alignment, not the parameter's
        pointee = ".ptr" in words and align_at > words.index(".ptr")
        align = words[align_at + 1] if align_at >= 0 and not pointee else None
        elem = _SIZES.get(ptype)
        if elem is None:
            raise PtxError(f"entry {name}: unsupported parameter type .{ptype}")
        size = elem * (int(count) if count else 1)
        al = int(align) if align else elem
        offset = -(-offset // al) * al
        params.append(Param(pname, ptype, size, al, offset))
        offset += size
    return params


def _matching_brace(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise PtxError("unbalanced braces in the PTX text")


def parse_ptx(text: str) -> PtxModule:
    """Parse a PTX module (see the module docstring)."""
    files = {int(m.group(1)): m.group(2)
             for m in re.finditer(r'\.file\s+(\d+)\s+"([^"]*)"', text)}
    # comments are blanked keeping line numbers, so errors can name PTX lines
    clean = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    version = re.search(r"\.version\s+(\S+)", clean)
    target = re.search(r"\.target\s+([\w,\s]+?)\n", clean)
    asize = re.search(r"\.address_size\s+(\d+)", clean)
    shared: list[SharedDecl] = []
    entries: dict[str, Entry] = {}
    pos = 0
    while True:
        m = _ENTRY.search(clean, pos)
        head = clean[pos:m.start() if m else len(clean)]
        for s in _SHARED.finditer(head):
            elem = _SIZES.get(s.group(3), 1)
            count = s.group(5)
            shared.append(SharedDecl(s.group(4), int(s.group(2) or elem),
                                     elem * int(count) if count else
                                     (0 if count == "" else elem), bool(s.group(1))))
        if m is None:
            break
        name = m.group(1)
        entry = Entry(name, _params(m.group(2), name))
        brace = clean.index("{", m.end())
        directives = clean[m.end():brace]
        ntid = re.search(r"\.(?:maxntid|reqntid)\s+(\d+)", directives)
        entry.max_threads = int(ntid.group(1)) if ntid else None
        end = _matching_brace(clean, brace)
        first_line = clean.count("\n", 0, brace + 1) + 1
        body = clean[brace + 1:end].split("\n")
        ep = _EntryParser(entry, {d.name for d in shared})
        ep.body([(first_line + i, b) for i, b in enumerate(body)])
        entries[name] = entry
        pos = end + 1
    return PtxModule(version.group(1) if version else "", (target.group(1).strip()
                     if target else ""), int(asize.group(1)) if asize else 64, shared,
                     entries, files)


__all__ = [
    "SINK",
    "Addr",
    "Entry",
    "Imm",
    "Instr",
    "Operand",
    "Param",
    "PtxModule",
    "Reg",
    "SharedDecl",
    "Special",
    "Sym",
    "TensorAddr",
    "Vec",
    "parse_ptx",
    "split_operands",
]
