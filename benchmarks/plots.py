"""PNG charts for benchmark rows: a labelled scatter, grouped bars, lines over time, a
timeline of one run.

matplotlib is imported when a chart is drawn (``pip install -e ".[bench]"``), with the
non-interactive Agg backend, so the benchmarks also run where it is not installed: the
runner then says so instead of drawing.

Example::

    scatter([("tiny.en-q8_0", 0.06, 14.9)], "real-time factor", "WER %", "title", path)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, ax: Any, title: str, path: Path) -> Path:
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def scatter(
    points: Sequence[tuple[str, float, float]], xlabel: str, ylabel: str, title: str, path: Path
) -> Path:
    """One labelled point per ``(label, x, y)``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, x, y in points:
        ax.scatter([x], [y], s=30)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _save(fig, ax, title, path)


def wer_against_speed(points: Sequence[tuple[str, float, float]], title: str, path: Path) -> Path:
    """The accuracy/speed chart: ``(label, real-time factor, WER as a fraction)`` per system."""
    shown = [(label, rtf, 100 * wer) for label, rtf, wer in points]
    return scatter(shown, "real-time factor (decode s / audio s)", "WER %", title, path)


def bars(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    ylabel: str,
    title: str,
    path: Path,
) -> Path:
    """Grouped bars: one group per label, one bar per series (None leaves a gap)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(labels)), 4.5))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [j + i * width for j, v in enumerate(values) if v is not None]
        ax.bar(xs, [v for v in values if v is not None], width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))])
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _save(fig, ax, title, path)


def lines(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    xlabel: str,
    title: str,
    path: Path,
) -> Path:
    """One panel per series over the same ``x`` (their units differ)."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(series), 1, figsize=(7, 2.2 * len(series)), sharex=True)
    axes = list(axes) if len(series) > 1 else [axes]
    for ax, (name, values) in zip(axes, series.items(), strict=True):
        ax.plot(list(x), list(values), marker=".")
        ax.set_ylabel(name, fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    return _save(fig, axes[0], title, path)


def timeline(
    panels: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    *,
    sections: Sequence[tuple[float, str]] = (),
    targets: Mapping[str, Sequence[tuple[float, str]]] | None = None,
    xlabel: str,
    ylabel: str,
    title: str,
    path: Path,
    gap: float = float("inf"),
) -> Path:
    """One panel per ``name: (x, y, marks)`` over a shared x axis: ``y`` as a line broken
    where ``x`` jumps by more than ``gap`` (time not sampled), ``marks`` as dots on the x
    axis, ``sections`` as labelled vertical lines, ``targets[name]`` as labelled horizontal
    lines in panel ``name``.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.6 * len(panels)), sharex=True)
    axes = list(axes) if len(panels) > 1 else [axes]
    targets = targets or {}
    lines = [v for shown in targets.values() for v, _ in shown]
    top = max((max(y, default=0.0) for _, y, _ in panels.values()), default=0.0)
    top = max(top, *lines, 1.0) * 1.08
    for ax, (name, (x, y, marks)) in zip(axes, panels.items(), strict=True):
        xs, ys = [], []
        for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
            if i and xi - x[i - 1] > gap:
                xs.append(float("nan"))
                ys.append(float("nan"))
            xs.append(xi)
            ys.append(yi)
        ax.plot(xs, ys, linewidth=0.9)
        ax.plot(list(marks), [0.0] * len(marks), "|", color="black", markersize=6)
        for value, label in targets.get(name, ()):
            ax.axhline(value, color="grey", linestyle=":", linewidth=0.8)
            ax.annotate(
                label,
                (0, value),
                xycoords=("axes fraction", "data"),
                xytext=(3, 2),
                textcoords="offset points",
                fontsize=6,
            )
        for at, label in sections:
            ax.axvline(at, color="grey", linestyle="--", linewidth=0.6)
            if ax is axes[0]:
                ax.annotate(
                    label, (at, 1.0), xycoords=("data", "axes fraction"), fontsize=6, va="bottom"
                )
        ax.set_ylim(0, top)
        ax.set_ylabel(f"{ylabel}\n{name}", fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
