"""The bench's table: one row per measurement, on stdout and in ``bench-<device>.csv`` (rewritten
atomically after every row, so an interrupted bench leaves what it measured)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from runfolder.io import atomic_write_text

from .measure import Measure

CSV_COLUMNS = ["item", "measure", "model", "variant", "images_per_s", "baseline", "baseline_images_per_s", "ratio",
               "goal", "verdict", "peak_mib", "first_step_s", "fit_s", "repeats", "note"]
# Goals from the issue: (CPU, GPU) per item; None: no goal on that device.
GOALS = {1: (0.97, 0.95), 2: (0.95, None), 3: (None, 3.0)}
GPU_TARGET_RESNET56 = 30_000  # images/s, ResNet-56, 3x32x32, batch 128, one H100, through the Lightning path


class Table:
    def __init__(self, path: Path, device_kind: str) -> None:
        self.path, self.rows, self.device_kind = path, [], device_kind

    def add(self, item: int, measure: str, *, model: str = "", variant: str = "", a: Measure | None = None,
            baseline: str = "", b: Measure | None = None, ratio: float | None = None, repeats: int = 1,
            note: str = "", goal: float | None = None) -> dict:
        if goal is None and item in GOALS and (ratio is not None or b is not None):
            goal = GOALS[item][1 if self.device_kind == "cuda" else 0]
        if ratio is None and a is not None and b is not None:
            ratio = a.images_per_s / b.images_per_s
        verdict = "" if goal is None or ratio is None else ("ok" if ratio >= goal else "SHORT")
        row = {"item": item, "measure": measure, "model": model, "variant": variant,
               "images_per_s": _r(a.images_per_s if a else None, 1), "baseline": baseline,
               "baseline_images_per_s": _r(b.images_per_s if b else None, 1), "ratio": _r(ratio, 3),
               "goal": goal if goal is not None else "", "verdict": verdict,
               "peak_mib": _r(a.peak_mib if a else None, 1), "first_step_s": _r(a.first_step_s if a else None, 2),
               "fit_s": _r(a.fit_s if a else None, 2), "repeats": repeats, "note": note}
        self.rows.append(row)
        self.write()
        print("  " + self._line(row), flush=True)
        return row

    def write(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())

    @staticmethod
    def _line(r: dict) -> str:
        def f(v, spec):
            return format(v, spec) if isinstance(v, (int, float)) and v != "" else str(v or "")

        return (f"{r['item']:>2} {r['measure'][:34]:<34} {r['model'][:10]:<10} {r['variant'][:22]:<22} "
                f"{f(r['images_per_s'], '9.0f'):>9} {r['baseline'][:16]:<16} {f(r['baseline_images_per_s'], '9.0f'):>9} "
                f"{f(r['ratio'], '6.3f'):>6} {str(r['goal']):>5} {r['verdict']:<5} {f(r['peak_mib'], '7.0f'):>7} "
                f"{f(r['first_step_s'], '6.1f'):>6}  {r['note']}")

    def render(self) -> str:
        head = (f"{'#':>2} {'measure':<34} {'model':<10} {'variant':<22} {'images/s':>9} {'vs':<16} {'images/s':>9} "
                f"{'ratio':>6} {'goal':>5} {'':<5} {'peakMiB':>7} {'1st s':>6}  note")
        return "\n".join([head, "-" * len(head)] + [self._line(r) for r in self.rows])


def join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _r(v, nd):
    return "" if v is None or not math.isfinite(float(v)) else round(float(v), nd)
