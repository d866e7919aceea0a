"""The base of every long list on screen (the fleet grid, the drift audit list, the log, the timeline).

A line-API ``ScrollView``: only the lines on screen are drawn, and each drawn line is kept in an LRU cache
under a key made of what it depends on (as Toolong's ``LogLines`` does), so a line is drawn again only when
something it shows has changed, however often the screen asks for it. A subclass says how many lines there
are (``line_count``), what line ``index`` depends on (``line_key``) and how to draw it (``draw_line``);
the width and the widget's base style are part of every key. What no key can see (a new theme) empties
the cache (``forget_lines``); a list whose lines are keyed by their place forgets one that changed
(``forget_line``), so that no stale drawing stays alive in the cache.
"""

from __future__ import annotations

from collections.abc import Hashable

from rich.style import Style
from textual.cache import LRUCache
from textual.scroll_view import ScrollView
from textual.strip import Strip

LINES_KEPT = 1000  # drawn lines kept: several screens' worth on the largest terminal


class LineList(ScrollView):
    """Lines drawn on demand from a keyed cache; a cursor list scrolls with ``scroll_to_show``."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._drawn: LRUCache[Hashable, Strip] = LRUCache(LINES_KEPT)
        self._key_at: dict[int, Hashable] = {}  # the key each line was last drawn under

    # ---- what a subclass says

    @property
    def line_count(self) -> int:
        raise NotImplementedError

    @property
    def line_width(self) -> int:
        """The cells each line fills."""
        return self.size.width

    def line_key(self, index: int) -> Hashable:
        """What line ``index`` shows depends on (besides the width and the base style)."""
        raise NotImplementedError

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        raise NotImplementedError

    def draw_empty(self, index: int, width: int, base: Style) -> Strip:
        """A line below the last one."""
        return Strip.blank(width, base)

    # ---- drawing

    def render_line(self, y: int) -> Strip:
        return self.render_index(self.scroll_offset.y + y)

    def render_index(self, index: int) -> Strip:
        """Line ``index`` of the whole list (``render_line`` counts from the top of the screen)."""
        width = self.line_width
        base = self.rich_style
        if index >= self.line_count:
            return self.draw_empty(index, width, base)
        key = (self.line_key(index), width, base)
        self._key_at[index] = key
        strip = self._drawn.get(key)
        if strip is None:
            strip = self.draw_line(index, width, base)
            self._drawn.set(key, strip)
        return strip

    def forget_line(self, index: int) -> None:
        """Draw line ``index`` afresh next time (it changed, and its key cannot tell)."""
        key = self._key_at.pop(index, None)
        if key is not None:
            self._drawn.discard(key)

    def forget_lines(self) -> None:
        """Draw every line afresh (what changed is in no key: the theme, the layout)."""
        self._drawn.clear()
        self._key_at.clear()

    # ---- the cursor's line on screen

    def scroll_to_show(self, line: int, top: int | None = None) -> None:
        """Scroll as little as needed for ``line`` (and ``top``, a line above it: its heading) to be seen."""
        top = line if top is None else top
        height = max(1, self.scrollable_content_region.height)
        y = self.scroll_offset.y
        if top < y:
            self.scroll_to(y=top, animate=False, immediate=True)
        elif line >= y + height:
            self.scroll_to(y=line - height + 1, animate=False, immediate=True)
