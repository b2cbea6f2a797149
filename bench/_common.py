"""What the benchmarks share: one-core runs, timing, and the lines of their reports.

Every benchmark prints its figures, the ratio against a baseline measured in the same run, and each goal
with MET or NOT MET. A missed goal never fails ``make bench`` (timings depend on the machine) unless the
script is run with ``--strict``; a wrong result (e.g. kept sets that differ) always does.
"""

from __future__ import annotations

import datetime
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Thread pools of one: numpy's BLAS, numba, GDAL. Set before those libraries load (see :func:`run_on_one_core`).
ONE_CORE_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "GDAL_NUM_THREADS": "1",
}
_PINNED_MARK = "TESSERA_BENCH_ONE_CORE"


def run_on_one_core() -> None:
    """Re-execute this script once, pinned to one CPU and with every thread pool set to one thread.

    Environment variables such as ``OPENBLAS_NUM_THREADS`` only count before the library loads, and CPU
    affinity is inherited only by threads created afterwards, so the script starts again from scratch.
    Call it first thing in ``main()``, before anything heavy is imported.
    """
    if os.environ.get(_PINNED_MARK) == "1":
        return
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ONE_CORE_ENV, _PINNED_MARK: "1"})


def cpus_in_use() -> str:
    """The CPUs this process may run on, e.g. ``"1 of 2"``."""
    total = os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{allowed} of {total}"


def machine() -> str:
    """One line naming the machine: CPU model, cores, Python, date."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    today = datetime.date.today().isoformat()
    return (
        f"{model}, {os.cpu_count()} cores (running on {cpus_in_use()}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {today}"
    )


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs of one operation."""

    runs: list[float]

    @property
    def best(self) -> float:
        """The fastest run (the least disturbed by the rest of the machine)."""
        return min(self.runs)

    @property
    def median(self) -> float:
        """The median run."""
        return statistics.median(self.runs)

    def __str__(self) -> str:
        if len(self.runs) == 1:
            return f"{seconds(self.best)} (1 run)"
        return f"{seconds(self.best)} best, {seconds(self.median)} median of {len(self.runs)}"


def measure[T](run: Callable[[T], Any], prepare: Callable[[], T], repeat: int) -> tuple[Timing, Any]:
    """Time ``run(prepare())`` ``repeat`` times; ``prepare`` is not timed. Returns the timing and the last result."""
    runs = []
    result: Any = None
    for _ in range(repeat):
        argument = prepare()
        gc.collect()
        start = time.perf_counter()
        result = run(argument)
        runs.append(time.perf_counter() - start)
        del argument
    return Timing(runs), result


def seconds(value: float) -> str:
    """A duration with a unit that keeps three significant digits."""
    if value < 1e-3:
        return f"{value * 1e6:.1f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def rate(count: float, duration: float) -> str:
    """``count`` per second, e.g. ``2.1 M/s``."""
    per_second = count / duration
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if per_second >= scale:
            return f"{per_second / scale:.2f} {unit}/s"
    return f"{per_second:.1f} /s"


@dataclass
class Report:
    """The printed report of one benchmark: sections of rows, then the goals."""

    title: str
    goals: list[tuple[str, bool, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def header(self, *notes: str) -> None:
        """Print the title, the machine and any notes about the set-up."""
        print(f"== {self.title} ==", flush=True)
        print(f"machine: {machine()}")
        for note in notes:
            print(f"  {note}")

    def section(self, name: str) -> None:
        """Start a section of rows."""
        print(f"\n-- {name}", flush=True)

    def row(self, label: str, value: str, note: str = "") -> None:
        """One figure: its label, value and an optional note."""
        print(f"  {label:<52} {value:>28}  {note}".rstrip(), flush=True)

    def goal(self, name: str, met: bool, detail: str) -> None:
        """Record one goal and whether it was met (printed at the end)."""
        self.goals.append((name, met, detail))

    def fail(self, message: str) -> None:
        """Record a wrong result: the script exits non-zero."""
        self.failures.append(message)
        print(f"  WRONG RESULT: {message}", flush=True)

    def finish(self, strict: bool = False) -> int:
        """Print the goals and return the exit status (1 on a wrong result, or a missed goal with ``strict``)."""
        print("\n-- goals")
        for name, met, detail in self.goals:
            print(f"  [{'MET' if met else 'NOT MET'}] {name}: {detail}")
        for message in self.failures:
            print(f"  [WRONG] {message}")
        missed = [name for name, met, _ in self.goals if not met]
        print(
            f"\n{self.title}: {len(self.goals) - len(missed)}/{len(self.goals)} goals met"
            + (f", {len(self.failures)} wrong result(s)" if self.failures else ""),
            flush=True,
        )
        if self.failures:
            return 1
        return 2 if strict and missed else 0
