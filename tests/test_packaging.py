"""Packaging and documentation checks.

- The installed package puts only ``tilelang`` at the top level: its layers
  (``ir``, ``runtime``, ...) are subpackages, never top-level import names.
- The grammar file ships as package data.
- Every ``tl.NAME`` the user docs mention exists on the ``tilelang`` module, and
  every public language function is documented in docs/language.md.
- README.md starts with one code block holding exactly the install/main-job
  command and the test command, which .ci/run runs; its kernel example, its
  IR snippet and its ``tilelang ir`` command work as written.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from importlib import metadata, resources
from pathlib import Path

import pytest

import tilelang

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = Path(tilelang.__file__).resolve().parent
LAYERS = ("ir", "runtime", "frontend", "passes", "codegen", "cli", "errors", "knobs")
INSTALL_COMMAND = 'pip install -e ".[test]" && python examples/matmul.py'
TEST_COMMAND = "python -m pytest -q"
USER_DOCS = ("docs/language.md", "docs/semantics.md", "README.md")


def read(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


def site_dirs() -> set[str]:
    """The site-packages folders of the running interpreter."""
    return {str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("purelib", "platlib")}


def run_python(code: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------------------
# the package
# ---------------------------------------------------------------------------

def test_importing_tilelang_imports_no_top_level_layer_modules(tmp_path):
    # A clean interpreter outside the repository, so only the installed package is seen.
    code = textwrap.dedent(f"""
        import sys
        import tilelang, tilelang.cli, tilelang.ir, tilelang.interp.interpreter
        import tilelang.passes, tilelang.frontend, tilelang.codegen
        print(sorted(k for k in sys.modules if k in {LAYERS!r}))
        print(tilelang.__file__)
    """)
    r = run_python(code, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    leaked, location = r.stdout.splitlines()
    assert leaked == "[]", f"top-level modules imported by tilelang: {leaked}"
    assert Path(location).resolve().parent == PACKAGE_DIR


@pytest.mark.parametrize("name", LAYERS)
def test_layers_are_not_top_level_import_names(name):
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    where = [Path(p).resolve() for p in ([spec.origin] if spec.origin else []) +
             list(spec.submodule_search_locations or [])]
    for p in where:
        assert PACKAGE_DIR not in p.parents and p != PACKAGE_DIR / name, \
            f"'{name}' is importable as a top-level name from tilelang's own folder ({p})"
        assert not any(Path(d) in p.parents for d in site_dirs()), \
            f"'{name}' is installed as a top-level name in site-packages ({p})"


@pytest.mark.parametrize("name", LAYERS)
def test_layers_live_under_tilelang(name):
    spec = importlib.util.find_spec(f"tilelang.{name}")
    assert spec is not None and spec.origin is not None
    assert PACKAGE_DIR in Path(spec.origin).resolve().parents


def test_installed_distribution_has_only_the_tilelang_top_level():
    # The installed record in site-packages, not the build's tilelang.egg-info in the
    # source tree (whose SOURCES.txt lists tests/ too, and which the repository root
    # on sys.path would otherwise find first).
    dists = [d for d in metadata.distributions(name="tilelang", path=sorted(site_dirs()))]
    if not dists:
        pytest.skip("tilelang is not installed (run the README's install command)")
    dist = dists[0]
    top = dist.read_text("top_level.txt")
    if top is not None:
        assert top.split() == ["tilelang"]
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if not str(f).endswith(".py") or parts[0] == ".." or parts[0].startswith("__editable__"):
            continue
        assert parts[0] == "tilelang", f"the distribution installs {f} outside tilelang/"
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts.get("tilelang") == "tilelang.cli:main"


def test_grammar_ships_as_package_data():
    assert resources.files("tilelang.ir").joinpath("grammar.lark").is_file()
    pyproject = read("pyproject.toml")
    import tomllib
    config = tomllib.loads(pyproject)["tool"]["setuptools"]
    assert "*.lark" in config["package-data"]["tilelang.ir"]
    assert config["packages"]["find"]["include"] == ["tilelang*"]


# ---------------------------------------------------------------------------
# the docs and the language surface
# ---------------------------------------------------------------------------

def documented_tl_names(rel: str) -> set[str]:
    return set(re.findall(r"\btl\.([A-Za-z_]\w*)", read(rel)))


@pytest.mark.parametrize("rel", USER_DOCS)
def test_every_documented_tl_name_exists(rel):
    missing = sorted(n for n in documented_tl_names(rel) if not hasattr(tilelang, n))
    assert not missing, f"{rel} mentions tl.{', tl.'.join(missing)}, which tilelang lacks"


def test_every_language_function_is_documented():
    from tilelang.frontend import language
    public = {n for n in dir(tilelang) if not n.startswith("_")}
    builtins = {n for n in public if getattr(getattr(tilelang, n), "__tl_builtin__", False)}
    markers = {n for n in public if getattr(tilelang, n) in
               (language.constexpr, language.Tensor, language.static_range, language.pipeline)}
    wanted = builtins | markers | {"kernel", "func", "CompileError", "LaunchError", "KernelError"}
    undocumented = sorted(wanted - documented_tl_names("docs/language.md"))
    assert not undocumented, f"docs/language.md does not document tl.{', tl.'.join(undocumented)}"


def test_relative_links_in_docs_point_to_files():
    for rel in ("README.md", "docs/language.md", "docs/semantics.md", "docs/ir.md",
                "docs/architecture.md"):
        base = (ROOT / rel).parent
        prose = re.sub(r"^```.*?^```$", "", read(rel), flags=re.S | re.M)
        prose = re.sub(r"`[^`\n]*`", "", prose)  # inline code, e.g. kernel[grid](x, y)
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", prose):
            assert (base / target).exists(), f"{rel} links to missing {target}"


# ---------------------------------------------------------------------------
# the README
# ---------------------------------------------------------------------------

def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced code block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.S | re.M)


def test_readme_starts_with_exactly_the_two_commands():
    text = read("README.md")
    assert text.startswith("```"), "README.md must open with the command block"
    _, first = code_blocks(text)[0]
    commands = [line.strip() for line in first.splitlines() if line.strip()]
    assert commands == [INSTALL_COMMAND, TEST_COMMAND]


def test_ci_runs_the_readme_commands():
    ci = read(".ci/run")
    assert os.access(ROOT / ".ci/run", os.X_OK)
    assert "set -euo pipefail" in ci
    install, main_job = INSTALL_COMMAND.split(" && ")
    lines = [line.strip() for line in ci.splitlines()]
    # The two halves run as separate lines: under `set -e`, a failure on the
    # left of && would not stop the script.
    assert install in lines
    assert any(line.startswith(main_job) for line in lines)
    assert any(line.startswith(TEST_COMMAND) for line in lines)
    assert "python3 -m venv" in ci or '"$PYTHON" -m venv' in ci
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci/run")]).returncode == 0


def readme_block(containing: str) -> str:
    for lang, body in code_blocks(read("README.md")):
        if lang == "python" and containing in body:
            return body
    raise AssertionError(f"README.md has no python block containing {containing!r}")


def test_readme_kernel_example_runs(tmp_path):
    script = tmp_path / "readme_example.py"
    script.write_text(readme_block("def vector_add"))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL,
                       env={**os.environ, "TILELANG_INTERPRET": "", "TILELANG_TARGET": ""})
    assert r.returncode == 0, r.stderr


def test_readme_kernel_is_the_example_kernel():
    def kernel_source(text: str) -> str:
        m = re.search(r"^@tl\.kernel.*?(?=^\S|\Z)", text, flags=re.S | re.M)
        assert m
        return m.group(0).strip()
    assert kernel_source(readme_block("def vector_add")) == \
        kernel_source(read("examples/vector_add.py"))


def test_readme_ir_snippet_runs(capsys):
    spec = importlib.util.spec_from_file_location("readme_matmul", ROOT / "examples/matmul.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exec(readme_block("matmul.compile("), {"matmul": module.matmul})
    out = capsys.readouterr().out
    assert "// after input" in out and "// after eliminate-dead-code" in out
    assert "tl.dot(" in out and 'kind = "pipeline"' in out and "BM = 64" in out


def test_readme_cli_command_prints_every_stage():
    m = re.search(r"^tilelang (ir .*)$", read("README.md"), flags=re.M)
    assert m, "README.md shows no `tilelang ir` command"
    args = re.findall(r'"[^"]*"|\S+', m.group(1))
    args = [a.strip('"') for a in args]
    r = subprocess.run([sys.executable, "-m", "tilelang.cli", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "// ----- IR after input -----" in r.stdout
    assert "// ----- IR after eliminate-dead-code -----" in r.stdout
    assert "func @matmul(" in r.stdout
