"""Release notes: what changed between two manifests (a `comparison.Comparison`, whose JSON is
its own), as Markdown (AllenSDK's text: `changes.allensdk_text`; HTML: `notes_html`); inside
the tables and NWB files too, once `contents` compared them."""

from __future__ import annotations

import re

import msgspec

from publishkit.formats.changes import Change, counts
from publishkit.formats.comparison import GROUP_TITLES, Comparison
from publishkit.formats.content_changes import nwb_lines, table_heading, table_lines, table_rows
from publishkit.formats.table_diff import TableDiff

NOTES_TITLE = "# Release notes\n"


class Heading(msgspec.Struct, frozen=True):
    level: int
    text: str


class Para(msgspec.Struct, frozen=True):
    text: str
    remark: bool = False  # a remark the release engineer gave (--note)


class Items(msgspec.Struct, frozen=True):
    """A list; each item's text and the lines under it."""

    items: tuple[tuple[str, tuple[str, ...]], ...]


Block = Heading | Para | Items


def blocks(
    comparison: Comparison, *, date: str | None = None, remarks: tuple[str, ...] = ()
) -> list[Block]:
    """One release's section as blocks (text with `code` spans), for Markdown and HTML: a
    heading, remarks, a summary line, changes grouped with counts, and what changed inside."""
    when = f" ({date})" if date else ""
    out: list[Block] = [Heading(2, f"v{comparison.new_version}{when}")]
    out += [Para(remark, remark=True) for remark in remarks]
    changes = list(comparison.changes)
    if comparison.old_version is None:
        out.append(Para(f"First release: {_summary(changes)}."))
    elif not changes:
        out.append(Para(f"No changes since v{comparison.old_version}."))
    else:
        out.append(Para(f"Changes since v{comparison.old_version}: {_summary(changes)}."))
    inside = {diff.path: diff for diff in comparison.nwb_files or ()}
    for group, title in GROUP_TITLES:
        in_group = [c for c in changes if c.group == group]
        if not in_group:
            continue
        out.append(Heading(3, f"{title} ({_summary(in_group)})"))
        out.append(Items(tuple((_file_line(c), nwb_lines(inside.get(c.path))) for c in in_group)))
        if group == "metadata":
            for diff in comparison.tables or ():
                out += _table_blocks(diff)
    return out


def render_markdown(
    comparison: Comparison, *, date: str | None = None, remarks: tuple[str, ...] = ()
) -> str:
    """One release's section in Markdown (see `blocks`). What users wrote (cell values, names,
    --note text) is escaped: a Markdown viewer shows it as written, never as HTML, a link or
    emphasis; `code` spans stay code."""
    lines: list[str] = []
    for block in blocks(comparison, date=date, remarks=remarks):
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + _escaped(block.text), ""]
        elif isinstance(block, Para) and block.remark:
            said = [_line_start_escaped(_escaped(line)) for line in block.text.splitlines()]
            said = said or [""]
            lines += [f"> **Note:** {said[0]}", *(f"> {line}" for line in said[1:]), ""]
        elif isinstance(block, Para):
            lines += [_escaped(block.text), ""]
        else:
            for text, under in block.items:
                lines.append(f"- {_escaped(text)}")
                lines += [f"  - {_escaped(line)}" for line in under]
            lines.append("")
    return "\n".join(lines[:-1]) + "\n"


# kept as written: `code` spans (shown literally) and <https://...> autolinks (the DANDI line's)
_CODE_SPAN = re.compile(r"(`[^`\n]*`|<https?://[^\s<>`\\]+>)")
# what starts HTML, a link, emphasis, code or an entity; `_` only where it may open or close
# emphasis (not inside a word: OPHYS_7 stays as written)
_MARKUP = re.compile(r"([\\`*\[\]<>&|]|(?<![^\W_])_|_(?![^\W_]))")
_BLOCK_START = re.compile(r"^(\s*)(\d+(?=[.)])|[#+=~-])")  # a heading, a list, a rule


def _escaped(text: str) -> str:
    """`text` with every character that Markdown reads as markup backslash-escaped, outside
    its `code` spans (which Markdown shows literally) and http(s) autolinks."""
    return "".join(
        part if _CODE_SPAN.fullmatch(part) else _MARKUP.sub(r"\\\1", part)
        for part in _CODE_SPAN.split(text)
    )


def _line_start_escaped(line: str) -> str:
    """A line of a user's note that cannot start a heading, a list or a rule."""
    match = _BLOCK_START.match(line)
    if match is None:
        return line
    head, marker = match.groups()
    if marker[0].isdigit():  # "1." starts a list; "1\." does not
        return f"{head}{marker}\\{line[match.end() :]}"
    return f"{head}\\{line[len(head) :]}"


def _table_blocks(diff: TableDiff) -> list[Block]:
    """A changed table's heading and its changes."""
    found: list[Block] = [Heading(4, table_heading(diff)), Para(table_rows(diff))]
    lines = table_lines(diff)
    if lines:
        found.append(Items(tuple((line, ()) for line in lines)))
    return found


def _file_line(change: Change) -> str:
    if change.kind == "renamed":
        return f"`{change.path}` → `{change.new_path}` renamed"
    return f"`{change.path}` {change.kind}"


def _summary(changes: list[Change]) -> str:
    tally = counts(changes)
    return ", ".join(f"{n} {kind}" for kind, n in tally.items()) or "no files"


def prepend_section(existing: str | None, section: str, version: str) -> str:
    """The release-notes document with `section` on top, replacing an older copy of it."""
    body = (existing or "").removeprefix(NOTES_TITLE).lstrip("\n")
    heading = re.compile(rf"^## v{re.escape(version)}(?=[ \t]|$).*?(?=^## v|\Z)", re.S | re.M)
    body = heading.sub("", body).lstrip("\n")
    return NOTES_TITLE + "\n" + section + ("\n" + body if body else "")


def drop_newest_section(document: str) -> str:
    """The release-notes document without its newest (top) section: what it was before the
    latest release wrote it."""
    body = document.removeprefix(NOTES_TITLE).lstrip("\n")
    sections = re.split(r"^(?=## v)", body, flags=re.M)  # a leading "" when body starts with one
    older = "".join(sections[2:] if sections[0] == "" else sections[1:])
    return NOTES_TITLE + "\n" + older


def has_section(document: str | None, version: str) -> bool:
    """The release-notes document has the section of `version` (not of another version that starts
    the same)."""
    pattern = re.compile(rf"^## v{re.escape(version)}(?=[ \t]|$)", re.M)
    return document is not None and pattern.search(document) is not None
