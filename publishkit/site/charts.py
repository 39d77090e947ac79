"""The index's charts, as inline SVG drawn by matplotlib's SVG backend (offline; imported only
when a page is built): each with a title and a text alternative, each bar a mark whose id
ends in `-mark-N`, so a test can count them."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from publishkit.site.history import ReleaseFacts

_ROOT = re.compile(r"<svg\b[^>]*>")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_COLORS = {"created": "#2e7d32", "changed": "#f9a825", "deleted": "#c62828"}


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str  # the text alternative: what the chart shows, as numbers
    svg: str  # inline SVG, with role="img", <title> and <desc>
    marks: int


def history_charts(releases: Sequence[ReleaseFacts]) -> tuple[Chart, ...]:
    """Total bytes, file count, and files created / changed / deleted per release (oldest on
    the left)."""
    oldest_first = list(reversed(releases))
    labels = [f"v{r.version}" for r in oldest_first]
    sizes = [r.bytes for r in oldest_first]
    unit, scale = _unit(max(sizes, default=0))
    bytes_alt = "; ".join(f"{lb}: {_size(n)}" for lb, n in zip(labels, sizes, strict=True))
    files_alt = "; ".join(f"{lb}: {r.files}" for lb, r in zip(labels, oldest_first, strict=True))
    changes_alt = "; ".join(
        f"{lb}: {r.created} created, {r.changed} changed, {r.deleted} deleted"
        for lb, r in zip(labels, oldest_first, strict=True)
    )
    return (
        _bars(
            "chart-bytes",
            "Total size per release",
            f"Total size of each release's files ({unit}). {bytes_alt}.",
            labels,
            {unit: [n / scale for n in sizes]},
            integers=False,
        ),
        _bars(
            "chart-files",
            "Files per release",
            f"Number of files in each release. {files_alt}.",
            labels,
            {"files": [float(r.files) for r in oldest_first]},
        ),
        _bars(
            "chart-changes",
            "Files created, changed and deleted per release",
            f"Files created, changed and deleted since the release before. {changes_alt}.",
            labels,
            {
                "created": [float(r.created) for r in oldest_first],
                "changed": [float(r.changed) for r in oldest_first],
                "deleted": [float(r.deleted) for r in oldest_first],
            },
        ),
    )


def _bars(
    chart_id: str,
    title: str,
    description: str,
    labels: list[str],
    series: dict[str, list[float]],
    *,
    integers: bool = True,
) -> Chart:
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    style: Any = {"svg.fonttype": "none", "svg.hashsalt": chart_id, "font.size": 10}
    with matplotlib.rc_context(style):
        figure = Figure(figsize=(4.4, 2.6))
        axes = figure.add_subplot()
        width = 0.8 / len(series)
        marks = 0
        for index, (name, values) in enumerate(series.items()):
            offsets = [x + (index - (len(series) - 1) / 2) * width for x in range(len(labels))]
            color = _COLORS.get(name, "#1565c0")
            bars = axes.bar(offsets, values, width, label=name, color=color)
            for bar in bars:
                bar.set_gid(f"{chart_id}-mark-{marks}")
                marks += 1
        axes.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 6 else 0)
        if integers:
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(next(iter(series)) if len(series) == 1 else "files")
        axes.spines[["top", "right"]].set_visible(False)
        if len(series) > 1:
            axes.legend(frameon=False)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return Chart(
        chart_id,
        title,
        description,
        _inline(buffer.getvalue(), chart_id, title, description),
        marks,
    )


def _inline(svg: str, chart_id: str, title: str, description: str) -> str:
    """The SVG document as an element for an HTML page: no XML prolog, scalable, labelled."""
    svg = svg[svg.index("<svg") :]
    opening = _ROOT.search(svg)
    assert opening is not None
    tag = re.sub(r'\s(width|height)="[^"]*"', "", opening.group(0))
    tag = tag.replace(
        "<svg", f'<svg role="img" aria-labelledby="{chart_id}-title {chart_id}-desc"', 1
    )
    label = (
        f'<title id="{chart_id}-title">{html.escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{html.escape(description)}</desc>'
    )
    return tag + label + _METADATA.sub("", svg[opening.end() :])


def _unit(largest: int) -> tuple[str, int]:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if largest >= scale:
            return unit, scale
    return "bytes", 1


def _size(n: int) -> str:
    unit, scale = _unit(n)
    return f"{n} bytes" if scale == 1 else f"{n / scale:.1f} {unit}"


def size_text(n: int | None) -> str:
    """A size for people: 1.2 MB."""
    return "" if n is None else _size(n)
