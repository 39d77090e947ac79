"""The index's charts, as inline SVG drawn by pygal (offline, pure Python: ~0.1 s a page where
matplotlib's import and drawing took ~1 s of every release; imported only when a page is
built): each with a title and a text alternative, each bar a mark whose id ends in `-mark-N`,
so a test can count them."""

from __future__ import annotations

import html
import math
import re
import sys
import types
from collections.abc import Sequence
from typing import Any

import msgspec

from publishkit.site.history import ReleaseFacts

_ROOT = re.compile(r"<svg\b[^>]*>")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_COLORS = {"created": "#2e7d32", "changed": "#f9a825", "deleted": "#c62828"}


class Chart(msgspec.Struct, frozen=True):
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
    pygal = chart_library()
    from pygal.style import Style

    colors = tuple(_COLORS.get(name, "#1565c0") for name in series)
    style = Style(
        colors=colors,
        background="transparent",
        plot_background="transparent",
        font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
        label_font_size=11,
        major_label_font_size=11,
        legend_font_size=11,
    )
    chart = pygal.Bar(
        js=[],  # no script of pygal's own (its inline configuration is removed below too)
        disable_xml_declaration=True,
        explicit_size=False,
        width=440,
        height=260,
        style=style,
        show_legend=len(series) > 1,
        legend_at_bottom=True,
        x_label_rotation=30 if len(labels) > 6 else 0,
        y_title=next(iter(series)) if len(series) == 1 else "files",
        print_values=False,
    )
    chart.x_labels = labels
    top = max((v for values in series.values() for v in values), default=0)
    if integers:
        step = max(1, math.ceil(top / 5))
        chart.y_labels = list(range(0, int(top) + step + 1, step))
    for name, values in series.items():
        chart.add(name, values)
    svg = _plain(chart.render(is_unicode=True), chart_id)
    marks = 0

    def mark(found: re.Match[str]) -> str:
        nonlocal marks
        marks += 1
        return f'id="{chart_id}-mark-{marks - 1}" {found.group(0)}'

    svg = _BAR.sub(mark, svg)
    return Chart(chart_id, title, description, _inline(svg, chart_id, title, description), marks)


_BAR = re.compile(r'class="rect reactive tooltip-trigger"')
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_PYGAL_ID = re.compile(r"chart-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


_HOVER = re.compile(r"<title>[^<]*</title>|<desc class=\"[^\"]*\">[^<]*</desc>")


def _plain(svg: str, chart_id: str) -> str:
    """pygal's SVG without its script, its comments (one dated), its hover titles and tooltip
    data (the chart's one title and text alternative are `_inline`'s) or its random id: the
    same history draws the same chart."""
    svg = _HOVER.sub("", _COMMENT.sub("", _SCRIPT.sub("", svg)))
    return _PYGAL_ID.sub(f"{chart_id}-svg", svg)


def chart_library() -> Any:
    """pygal, without its map plugins: publishkit draws no map, so neither the import hook it
    adds for them (a finder without `find_spec`, which makes every later failed import warn)
    nor the search for them (importlib_metadata imported and every installed distribution's
    entry points read: ~0.045 s of CPU); drawing with the standard library's ElementTree:
    pygal imports lxml when it can (~0.05 s of CPU, a tenth of a release's own work) and would
    draw with it only when it is there."""
    if "pygal" not in sys.modules:
        shims: dict[str, Any] = {"importlib_metadata": _NO_PLUGINS}
        if "lxml" not in sys.modules:
            shims["lxml"] = None  # pygal's `import lxml` fails
        shims = {name: shim for name, shim in shims.items() if name not in sys.modules}
        sys.modules.update(shims)
        try:
            import pygal
        finally:
            for name in shims:
                del sys.modules[name]
    import pygal
    from pygal.etree import etree

    etree.to_etree()  # the same SVG whether lxml was imported by something else or not
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]
    return pygal


class _NoPlugins(types.ModuleType):
    """What pygal's import reads of importlib_metadata: the entry points of map plugins
    (none)."""

    @staticmethod
    def entry_points(**selection: Any) -> tuple[()]:
        return ()


_NO_PLUGINS = _NoPlugins("importlib_metadata")


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
