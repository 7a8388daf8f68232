"""PNG charts for benchmark rows: a labelled scatter, grouped bars, lines over time.

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
