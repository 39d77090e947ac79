"""Release notes as HTML, for a release page: the blocks the Markdown is made of, escaped."""

from __future__ import annotations

import html
import re

from publishkit.formats.comparison import Comparison
from publishkit.formats.notes import Heading, Items, Para, blocks

_CODE = re.compile(r"`([^`]*)`")


def render_html(
    comparison: Comparison,
    *,
    date: str | None = None,
    remarks: tuple[str, ...] = (),
    max_items: int | None = None,
) -> str:
    """One release's section as an HTML fragment (`<section class="release">`), saying what the
    Markdown says: every value escaped, `code` spans as <code>. `max_items`: a list of more
    items shows that many and "and N more" (a release page's file table lists them all)."""
    parts = [f'<section class="release" id="v{html.escape(comparison.new_version)}">']
    for block in blocks(comparison, date=date, remarks=remarks):
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            text = _inline(block.text)
            parts.append(
                f'<p class="note"><strong>Note:</strong> {text}</p>'
                if block.remark
                else f"<p>{text}</p>"
            )
        elif isinstance(block, Items):
            parts.append("<ul>")
            shown = block.items if max_items is None else block.items[:max_items]
            for text, under in shown:
                inner = "".join(f"<li>{_inline(line)}</li>" for line in under)
                nested = f"<ul>{inner}</ul>" if under else ""
                parts.append(f"<li>{_inline(text)}{nested}</li>")
            if len(shown) < len(block.items):
                parts.append(f'<li class="more">and {len(block.items) - len(shown)} more</li>')
            parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escaped text, with `code` spans as <code> elements."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))
