"""The disk cache: keys, hits and misses, corrupt entries, concurrent writers and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tilelang as tl
from tilelang.cli import main
from tilelang.runtime import cache, cache_key
from tilelang.runtime.targets import get_target

SIG = "X=f32[1]:16,Y=f32[1]:16"
OFFSET = 1.0  # a global the kernel reads: part of its key


@tl.kernel
def shift(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 64):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), tl.load(X, (off,), (BLOCK,)) + OFFSET)


@tl.func
def twice(x):
    return x + x


@tl.kernel
def doubled(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 64):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), twice(tl.load(X, (off,), (BLOCK,))))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """An empty cache directory for one test, with the cache on."""
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TILELANG_CACHE", raising=False)
    return tmp_path / "cache"


def fresh(k: tl.Kernel = shift) -> tl.Kernel:
    """The same kernel without its in-memory caches, as in a new process."""
    return tl.kernel(k.fn, num_warps=k.num_warps)


def compile_(k: tl.Kernel | None = None, target: str = "interp", sig: str = SIG, **cx):
    return (k or fresh()).compile(sig, target=target, **cx)


def key_of(k: tl.Kernel = shift, target: str = "interp", sig: str = SIG,
           num_warps: int | None = None, **cx) -> str:
    from tilelang.frontend.signature import parse_signature
    spec = k.make_specialization(parse_signature(k, sig), cx, num_warps)
    key = cache_key.make_key(k, spec, target)
    assert key is not None
    return key.digest


def is_hit(compiled) -> bool:
    return isinstance(compiled, cache._CachedKernel)


def run(k: tl.Kernel, target: str = "interp") -> np.ndarray:
    """Run the kernel as compiled for ``target`` (through the disk cache)."""
    x = np.arange(128, dtype=np.float32)
    y = np.zeros_like(x)
    compiled = compile_(k, target)
    get_target(target).launch(compiled, (2, 1, 1), [x, y], k)
    return y


def test_miss_stores_then_a_new_process_hits(cache_dir):
    first = compile_()
    assert not is_hit(first) and len(cache.entries()) == 1
    second = compile_()
    assert is_hit(second) and second.module == first.module
    assert len(cache.entries()) == 1
    # a hit runs: the interpreter is prepared from the parsed tile IR
    np.testing.assert_array_equal(run(fresh()), np.arange(128, dtype=np.float32) + 1)


def test_hit_recomputes_stages_only_when_read(cache_dir):
    compile_()
    hit = compile_()
    assert hit.restage is not None
    assert hit.stages[0][0] == "input" and hit.stages[-1][1] == hit.module
    assert "input" in hit.ir


def test_emulate_hit_runs_from_the_cached_thread_ir(cache_dir):
    assert not is_hit(compile_(target="emulate:sm_80"))
    assert is_hit(compile_(target="emulate:sm_80"))
    np.testing.assert_array_equal(run(fresh(), "emulate:sm_80"),
                                  np.arange(128, dtype=np.float32) + 1)


def test_nvidia_hit_reuses_the_ptx_without_llvm(cache_dir, monkeypatch):
    from tilelang.codegen.nvidia import ptx
    cold = compile_(target="sm_80")
    files = {p.name for p in (cache_dir / cache.entries()[0].key).iterdir()}
    assert {"meta.json", "ir.txt", "kernel.ptx"} <= files
    assert ("kernel.cubin" in files) == (cold.cubin is not None)

    def no_llvm(*args, **kwargs):
        raise AssertionError("a cache hit must not run the code generator")
    monkeypatch.setattr(ptx, "emit_ptx", no_llvm)
    hit = compile_(target="sm_80")
    assert is_hit(hit) and hit.ptx == cold.ptx and hit.cubin == cold.cubin
    assert hit.function.name == "shift"  # the module is parsed on first use


def test_key_changes_with_each_component(monkeypatch):
    base = key_of()
    assert key_of() == base  # stable
    assert key_of(BLOCK=32) != base
    assert key_of(sig="X=f64[1]:16,Y=f64[1]:16") != base
    assert key_of(sig="X=f32[1]:aligned,Y=f32[1]:16") != base
    assert key_of(sig="X=f32[2]:16,Y=f32[1]:16") != base
    assert key_of(target="emulate:sm_80") != base
    assert key_of(target="sm_80") != key_of(target="sm_90a")
    assert key_of(num_warps=8) != base
    assert key_of(doubled) != base  # source
    monkeypatch.setattr(sys.modules[__name__], "OFFSET", 2.0)
    assert key_of(fresh()) != base  # a global constant the kernel reads
    monkeypatch.setattr(cache_key, "_compiler_hash", "0" * 64)
    assert key_of(fresh()) != key_of()


def test_helper_source_is_in_the_key():
    before = cache_key.source_hash(fresh(doubled))
    helper = twice

    @tl.func
    def other(x):
        return x * 2.0
    try:
        doubled.fn.__globals__["twice"] = other
        assert cache_key.source_hash(fresh(doubled)) != before
    finally:
        doubled.fn.__globals__["twice"] = helper


def adder(amount: float):
    """A @tl.func closing over ``amount``: each closure has the same source."""
    @tl.func
    def add(x):
        return x + amount
    return add


@tl.kernel
def apply(X: tl.Tensor, Y: tl.Tensor, FN: tl.constexpr, BLOCK: tl.constexpr = 64):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), FN(tl.load(X, (off,), (BLOCK,))))


def test_a_tl_func_constexpr_keys_by_what_it_closes_over(cache_dir):
    # one source, two closures: a key on the text alone would hand the second
    # launch the first one's cached kernel
    assert key_of(apply, FN=adder(1.0)) == key_of(apply, FN=adder(1.0))
    assert key_of(apply, FN=adder(1.0)) != key_of(apply, FN=adder(2.0))
    x = np.arange(128, dtype=np.float32)
    for amount in (1.0, 2.0):
        y = np.zeros_like(x)
        fresh(apply)[(2,)](x, y, FN=adder(amount), target="interp")
        np.testing.assert_array_equal(y, x + amount)


def test_helpers_that_name_each_other_key_without_recursing():
    @tl.func
    def ping(x):
        return pong(x)

    @tl.func
    def pong(x):
        return ping(x)
    assert cache_key.resolved_hash(ping.source) == cache_key.resolved_hash(ping.source)


def test_values_without_a_stable_form_are_not_cached(cache_dir):
    class Opaque:
        pass
    with pytest.raises(cache_key.Uncacheable):
        cache_key.encode_value(Opaque())
    assert cache_key.encode_value((1, 2.5, tl.bf16)) == {
        "tuple": [{"int": "1"}, {"float": "2.5"}, {"dtype": "bf16"}]}


def test_disabled_by_knob(cache_dir, monkeypatch):
    monkeypatch.setenv("TILELANG_CACHE", "0")
    compile_()
    compile_()
    assert not cache_dir.exists() or cache.entries() == []


def _only_entry(cache_dir: Path) -> Path:
    [info] = cache.entries()
    return cache_dir / info.key


def _set_ir(entry: Path, text: str) -> None:
    """Replace the IR and update meta.json so that only parsing can find the fault."""
    import hashlib
    data = text.encode()
    (entry / "ir.txt").write_bytes(data)
    meta = json.loads((entry / "meta.json").read_text())
    meta["ir"].update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (entry / "meta.json").write_text(json.dumps(meta))


CORRUPTIONS = {
    "bad json": lambda e: (e / "meta.json").write_text('{"format": 1, "key"'),
    "missing meta": lambda e: (e / "meta.json").unlink(),
    "missing ir": lambda e: (e / "ir.txt").unlink(),
    "truncated ir": lambda e: (e / "ir.txt").write_bytes((e / "ir.txt").read_bytes()[:100]),
    "checksum": lambda e: (e / "ir.txt").write_text(
        (e / "ir.txt").read_text().replace("shift", "shifu")),
    "wrong key": lambda e: (e / "meta.json").write_text(
        (e / "meta.json").read_text().replace('"interp"', '"sm_80"')),
    "unparsable ir": lambda e: _set_ir(e, "func @shift(%X: ???"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_entry_is_removed_and_rebuilt(cache_dir, corruption):
    good = compile_()
    entry = _only_entry(cache_dir)
    CORRUPTIONS[corruption](entry)
    again = compile_()
    assert again.module == good.module
    np.testing.assert_array_equal(run(fresh()), np.arange(128, dtype=np.float32) + 1)
    # the rebuilt entry is whole and valid again
    assert _only_entry(cache_dir) == entry
    loaded = cache.load(cache_key.make_key(fresh(), again.spec, "interp"))
    assert loaded is not None and "func @shift" in loaded.ir_text


def test_corrupt_nvidia_artifact_is_rebuilt(cache_dir):
    good = compile_(target="sm_80")
    entry = _only_entry(cache_dir)
    (entry / "kernel.ptx").write_text("garbage")
    again = compile_(target="sm_80")
    assert not is_hit(again) and again.ptx == good.ptx
    assert is_hit(compile_(target="sm_80"))


WORKER = """
import json, sys
import tilelang as tl
from tilelang.runtime import cache_key

# Every worker uses one compiler hash, even if the package's files change meanwhile.
cache_key._compiler_hash = "c" * 64

@tl.kernel
def conc(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 64):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), tl.exp(tl.load(X, (off,), (BLOCK,))))

c = conc.compile("X=f32[1]:16,Y=f32[1]:16", target="emulate:sm_80")
print(json.dumps({"hit": type(c).__name__ != "CompiledKernel", "threads": c.function.name}))
"""


def test_concurrent_writers_of_one_kernel(cache_dir, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for out, err, rc in results:
        assert rc == 0, err
        assert json.loads(out)["threads"] == "conc"
    [info] = cache.entries()
    assert info.kernel == "conc" and info.target == "emulate:sm_80"
    leftovers = [p.name for p in cache_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    out, err = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              check=True).stdout, None
    assert json.loads(out)["hit"] is True


def test_cli_list_clear_dir(cache_dir, capsys):
    compile_()
    compile_(fresh(doubled))
    assert main(["cache", "dir"]) == 0
    assert capsys.readouterr().out.strip() == str(cache_dir)
    assert main(["cache", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KERNEL", "TARGET", "SIZE", "AGE", "KEY"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["doubled", "shift"]
    assert main(["cache", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {e["kernel"] for e in listed} == {"doubled", "shift"}
    assert all(len(e["key"]) == 64 and e["size"] > 0 for e in listed)
    assert main(["cache", "clear", "--kernel", "shift"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert [e.kernel for e in cache.entries()] == ["doubled"]
    assert main(["cache", "clear"]) == 0
    assert cache.entries() == []
    assert main(["cache", "list"]) == 0
    assert "no entries" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["cache"], ["cache", "bogus"], ["cache", "list", "--x"],
                                  ["cache", "clear", "--kernel"], ["cache", "dir", "extra"]])
def test_cli_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err


@pytest.mark.parametrize("argv", [["cache", "--help"], ["cache", "list", "--help"],
                                  ["cache", "clear", "--help"], ["cache", "dir", "--help"]])
def test_cli_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0 and "usage: tilelang cache" in capsys.readouterr().out


def test_compile_works_when_the_cache_cannot_be_written(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.delenv("TILELANG_CACHE", raising=False)
    with pytest.warns(RuntimeWarning, match="disk cache"):
        compiled = compile_()
    assert compiled.module.function().name == "shift"


def test_the_test_suite_cache_is_not_in_home():
    assert not str(cache.knobs.cache_dir()).startswith(str(Path.home() / ".cache"))
    assert get_target("interp").name == "interp"
