"""The two consoles: results on stdout, progress, warnings and errors on stderr.

Each is rich's Console, made the first time something needs rich (a table, markup, a style, a
progress bar). A plain line (`print(..., markup=False, highlight=False)`, `out(...,
highlight=False)`) printed before then is written as rich writes it (its control codes stripped,
a newline after it; a line with a tab goes to rich, which expands it), without importing rich:
a release with --quiet or --format json prints nothing else, and rich's import was ~0.03 s of
its start.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

# The control codes rich's Text strips from what it prints (rich.control.strip_control_codes).
_STRIPPED = dict.fromkeys((7, 8, 11, 12, 13))


class LazyConsole:
    """rich's Console(stderr=`stderr`, highlight=False, soft_wrap=True, emoji=False), made when
    first needed; its attributes are the Console's. (No emoji: a file named `:x:.nwb` is shown
    as it is named, with rich or without.)"""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def rich(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                stderr=self._stderr, highlight=False, soft_wrap=True, emoji=False
            )
        return self._console

    def _plain(self, objects: tuple[Any, ...], end: str) -> bool:
        """Wrote `objects` as a plain line, when nothing asks for rich yet."""
        if self._console is not None or not all(isinstance(o, str) for o in objects):
            return False
        text = " ".join(objects)
        if "\t" in text:  # rich expands tabs to its tab stops
            return False
        stream: TextIO = sys.stderr if self._stderr else sys.stdout
        stream.write(text.translate(_STRIPPED) + end)
        stream.flush()
        return True

    def line(self, text: str) -> None:
        """`text` as a plain line, as `print(text, markup=False, highlight=False)` shows it
        without a terminal, written as is even once rich's Console is made: the threads of a
        fetch of 2,000 small files, each saying a file is done, queued behind rich's lock and
        its rendering of each line (half of the fetch's samples waited there). Not for a
        terminal where a rich bar is live (rich draws a line above its bar)."""
        if "\t" in text:  # rich expands tabs to its tab stops
            self.print(text, markup=False, highlight=False)
            return
        stream: TextIO = sys.stderr if self._stderr else sys.stdout
        stream.write(text.translate(_STRIPPED) + "\n")
        stream.flush()

    def print(
        self, *objects: Any, markup: bool | None = None, highlight: bool | None = None, **kw: Any
    ) -> None:
        plain = markup is False and highlight is False and set(kw) <= {"end"}
        if plain and self._plain(objects, kw.get("end", "\n")):
            return
        self.rich.print(*objects, markup=markup, highlight=highlight, **kw)

    def out(self, *objects: Any, highlight: bool | None = None, **kw: Any) -> None:
        if highlight is False and set(kw) <= {"end"} and self._plain(objects, kw.get("end", "\n")):
            return
        self.rich.out(*objects, highlight=highlight, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich, name)


out = LazyConsole(stderr=False)
err = LazyConsole(stderr=True)
