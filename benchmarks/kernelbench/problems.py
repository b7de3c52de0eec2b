"""Finding and loading the KernelBench problem modules of a level.

Problem files are named as in KernelBench (``19_ReLU.py``), which are not Python
identifiers, so they are loaded from their paths. ``LEVEL1`` lists all 100 names of
level 1; a name with no file yet is a problem the language cannot express yet, and
``GAPS`` says what it lacks.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent

LEVEL1 = [line.strip() for line in (HERE / "level1_names.txt").read_text().splitlines()
          if line.strip()]

#: Problem number -> what the language (or this suite) still lacks to write it.
GAPS: dict[int, str] = {}


def number(name: str) -> int:
    """The problem number in a file name such as ``19_ReLU``."""
    return int(name.split("_", 1)[0])


def names(level: int) -> list[str]:
    """The names of all problems of ``level``, in problem-number order."""
    if level != 1:
        raise SystemExit(f"level {level}: only level 1 is written")
    return sorted(LEVEL1, key=number)


def path(level: int, name: str) -> Path:
    return HERE / f"level{level}" / f"{name}.py"


def load(level: int, name: str) -> ModuleType | None:
    """The problem module ``level<level>/<name>.py``, or None when it is not written."""
    p = path(level, name)
    if not p.exists():
        return None
    mod_name = f"kernelbench_l{level}_p{number(name)}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, p)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def select(level: int, only: list[str] | None) -> list[str]:
    """The problem names picked by ``--only`` (numbers or full names); all when empty."""
    every = names(level)
    if not only:
        return every
    picked = []
    for item in only:
        hits = [n for n in every if n == item or str(number(n)) == item]
        if not hits:
            raise SystemExit(f"--only {item}: no level-{level} problem has that number or name")
        picked += hits
    return picked
