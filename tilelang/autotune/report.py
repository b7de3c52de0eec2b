"""The report of a sweep: ``tune.csv``, ``tune.json`` and ``tune.png`` (time against
configuration), each labelled with the kind of timing (``gpu``, ``emulator``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from tilelang.autotune.tuner import TuneResult

CSV_COLUMNS = ("config", "status", "median_ms", "timing", "compile_s", "reason")


def write_report(result: TuneResult, out_dir: str | Path, stem: str = "tune") -> list[Path]:
    """Write the CSV, JSON and PNG of ``result`` into ``out_dir`` (created); returns
    the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path, png_path = (out / f"{stem}.{ext}" for ext in ("csv", "json", "png"))
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in result.rows:
            w.writerow([r.config.label(), r.status,
                        "" if r.median_ms is None else f"{r.median_ms:.6g}", result.timing,
                        "" if r.compile_s is None else f"{r.compile_s:.3f}", r.reason or ""])
    json_path.write_text(json.dumps(result.as_json(), indent=1, default=str), encoding="utf-8")
    plot(result, png_path)
    return [csv_path, json_path, png_path]


def plot(result: TuneResult, path: Path) -> None:
    """A bar chart of the median time per configuration; the best bar highlighted,
    configurations that did not run listed with their status instead of a bar."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = result.rows
    labels = [r.config.label() for r in rows]
    values = [r.median_ms or 0.0 for r in rows]
    colors = ["tab:green" if r.config == result.best else
              ("tab:blue" if r.status == "ok" else "lightgray") for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.6))
    y = list(range(len(rows)))
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    top = max(values) if any(values) else 1.0
    for i, r in enumerate(rows):
        text = f"{r.median_ms:.3g} ms" if r.status == "ok" and r.median_ms is not None \
            else r.status
        ax.text(values[i] + top * 0.01, i, text, va="center", fontsize=7)
    what = {"gpu": "GPU time (CUDA events)", "emulator": "EMULATOR wall time (not GPU speed)",
            "interpreter": "INTERPRETER wall time (not GPU speed)"}.get(result.timing,
                                                                       f"{result.timing} time")
    ax.set_xlabel(f"median ms: {what}")
    ax.set_xlim(0, top * 1.25)
    key = ", ".join(f"{k}={v}" for k, v in result.key.items() if k != "dtypes")
    key = key if len(key) <= 60 else key[:57] + "..."
    ax.set_title(f"{result.kernel} on {result.device} [{result.timing}]"
                 f"{' ' + key if key else ''}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary(result: TuneResult) -> str:
    """A few lines for the terminal: best configuration and the counts per status."""
    counts: dict[str, int] = {}
    for r in result.rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    best_ms = result.best_ms
    lines = [f"{result.kernel} on {result.device} ({result.timing} timings"
             f"{', from the stored tuning' if result.from_disk else ''}): "
             f"best {result.best.label()}"
             f"{f' at {best_ms:.4g} ms' if best_ms is not None else ''}",
             "  " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    for r in result.rows:
        if r.status != "ok":
            lines.append(f"  {r.config.label()}: {r.status}: {r.reason}")
    return "\n".join(lines)


__all__ = ["CSV_COLUMNS", "plot", "summary", "write_report"]
