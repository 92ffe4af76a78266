"""Figures of `loantrace bench`: each beside its baseline from the same run, as a ratio,
with the issue's target; the table, bench.json, and the tracing figures of
scripts/bench_flows.py (run as it is, its printed figures read back)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loantrace.domain.errors import ConfigurationError


@dataclass(frozen=True)
class Figure:
    """One measured figure, its baseline (measured in the same run) and its target."""

    key: str
    label: str
    value: float
    unit: str
    baseline_label: str | None = None
    baseline: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    ratio_at_least: float | None = None
    ratio_at_most: float | None = None

    @property
    def ratio(self) -> float | None:
        """Return value / baseline (None without a baseline)."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def target(self) -> str | None:
        """Return the target in words, or None."""
        parts = []
        if self.at_least is not None:
            parts.append(f">= {_num(self.at_least)} {self.unit}")
        if self.at_most is not None:
            parts.append(f"<= {_num(self.at_most)} {self.unit}")
        if self.ratio_at_least is not None and self.ratio_at_most is not None:
            parts.append(f"ratio {self.ratio_at_least:g}-{self.ratio_at_most:g}")
        elif self.ratio_at_least is not None:
            parts.append(f"ratio >= {self.ratio_at_least:g}")
        elif self.ratio_at_most is not None:
            parts.append(f"ratio <= {self.ratio_at_most:g}")
        return ", ".join(parts) or None

    @property
    def met(self) -> bool | None:
        """Return whether every target holds (None without a target)."""
        if self.target is None:
            return None
        ratio = self.ratio
        checks = [
            self.at_least is None or self.value >= self.at_least,
            self.at_most is None or self.value <= self.at_most,
            self.ratio_at_least is None or (ratio is not None and ratio >= self.ratio_at_least),
            self.ratio_at_most is None or (ratio is not None and ratio <= self.ratio_at_most),
        ]
        return all(checks)

    def to_json(self) -> dict[str, Any]:
        """Return the figure with its ratio, target and verdict, for bench.json."""
        ratio = self.ratio
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "baseline_label": self.baseline_label,
            "baseline": self.baseline,
            "ratio": round(ratio, 6) if ratio is not None else None,
            "target": self.target,
            "met": self.met,
        }


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.3g}"


def figures_table(title: str, figures: list[Figure]) -> Table:
    """Return the rich table: figure, value, baseline, ratio, target, met?."""
    table = Table(title=title, title_justify="left")
    for column, justify in (
        ("figure", "left"),
        ("value", "right"),
        ("baseline", "right"),
        ("ratio", "right"),
        ("target", "left"),
        ("met?", "center"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in figures:
        baseline = f"{_num(f.baseline)} ({f.baseline_label})" if f.baseline is not None else "-"
        ratio = f.ratio
        met = f.met
        verdict = "-" if met is None else ("[green]yes[/green]" if met else "[red]NO[/red]")
        table.add_row(
            f.label,
            f"{_num(f.value)} {f.unit}",
            baseline,
            f"{ratio:.3g}" if ratio is not None else "-",
            f.target or "-",
            verdict,
        )
    return table


def print_report(
    console: Console, report: dict[str, Any], sections: list[tuple[str, list[Figure]]]
) -> None:
    """Print one table per section and the count of targets met."""
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160, soft_wrap=True)  # a log file or a CI page: no wrapping
    for title, figures in sections:
        console.print(figures_table(title, figures))
    every = [f for _t, figures in sections for f in figures if f.met is not None]
    met = sum(1 for f in every if f.met)
    console.print(
        f"targets met: {met} of {len(every)}; {report['wall_seconds']:.1f} s wall time; "
        f"machine: {report['machine']['cores']} cores, Python {report['machine']['python']}"
    )


def machine() -> dict[str, Any]:
    """Describe where the run happened."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from loantrace.chain.localnode import find_anvil

    anvil = subprocess.run(
        [str(find_anvil()), "--version"], capture_output=True, text=True, check=False
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "anvil": (anvil.stdout.splitlines() or [""])[0],
    }


_FLOW_LINES = {
    "trace_p50_ms": re.compile(r"^single-loan trace p50 \(ms\)\s+([\d.]+)\s+([\d.]+)", re.M),
    "trace_p95_ms": re.compile(r"^single-loan trace p95 \(ms\)\s+([\d.]+)\s+([\d.]+)", re.M),
    "audit_s": re.compile(r"^full portfolio audit \(s\)\s+([\d.]+)\s+([\d.]+)", re.M),
}
_PORTFOLIO = re.compile(r"^portfolio: ([\d,]+) loans, ([\d,]+) movements", re.M)


def trace_and_audit(loans: int, transfers: int, samples: int) -> dict[str, Any]:
    """Run scripts/bench_flows.py on a synthetic portfolio; return its figures (ours and the
    naive per-hop baseline) as it printed them."""
    from loantrace.chain.compiler import find_source_root

    script = find_source_root() / "scripts" / "bench_flows.py"
    if not script.is_file():
        raise ConfigurationError(f"{script} is missing")
    args = [sys.executable, str(script), "--loans", str(loans), "--transfers", str(transfers)]
    args += ["--samples", str(samples)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=3600, check=False)
    found: dict[str, Any] = {"loans": loans, "transfers": transfers, "samples": samples}
    portfolio = _PORTFOLIO.search(done.stdout)
    if portfolio:
        found["loans"] = int(portfolio.group(1).replace(",", ""))
        found["movements"] = int(portfolio.group(2).replace(",", ""))
    for key, pattern in _FLOW_LINES.items():
        match = pattern.search(done.stdout)
        if match is None:
            raise ConfigurationError(
                f"scripts/bench_flows.py printed no {key} (exit {done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        found[key] = float(match.group(1))
        found[f"naive_{key}"] = float(match.group(2))
    found["script_exit"] = done.returncode
    return found


def flow_figures(flows: dict[str, Any]) -> list[Figure]:
    """The tracing engine's figures beside the naive per-hop trace."""
    naive = "naive per-hop SQL trace"
    return [
        Figure(
            "trace_p50_ms",
            f"single-loan trace p50 ({flows['loans']:,} loans)",
            flows["trace_p50_ms"],
            "ms",
            naive,
            flows["naive_trace_p50_ms"],
            at_most=50.0,
        ),
        Figure(
            "trace_p95_ms",
            "single-loan trace p95",
            flows["trace_p95_ms"],
            "ms",
            naive,
            flows["naive_trace_p95_ms"],
        ),
        Figure(
            "audit_s",
            f"full portfolio audit ({flows['loans']:,} loans)",
            flows["audit_s"],
            "s",
            "naive, extrapolated",
            flows["naive_audit_s"],
            at_most=10.0,
        ),
    ]
