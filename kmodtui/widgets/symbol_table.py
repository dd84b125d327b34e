"""A Line-API table for the symbol browser: draws only the visible rows, so 200k stay fluid.

(Textual's data-table widget mounts a renderable per cell: ~14 s to load 50k rows, as measured on this project's machines.)
"""

from __future__ import annotations

import os

from rich.segment import Segment
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kmodtui.core.errors import shown
from kmodtui.core.model import crc_hex
from kmodtui.core.resolve.browse import Row
from kmodtui.core.vocabulary import Status

STATUS_LABELS = {s.value: s.label for s in Status}  # the words live in kmodtui/core/vocabulary.py
# (title, width at 80 columns); module and symbol grow with the terminal, the provider takes the rest
# (at 80 columns 10 of them: a longer name ends in "~", the explanation below names it whole)
COLUMNS = (("status", 8), ("module", 14), ("symbol", 21), ("needs", 10), ("has", 10))
PROVIDER_MIN = 8  # "provider"
_SORT_COLUMN = {"module": "module", "symbol": "symbol", "status": "status", "provider": "provider"}


def column_widths(width: int) -> tuple[int, ...]:
    """Column widths for a terminal `width` wide: 80 columns get COLUMNS' widths; wider ones give
    a quarter of the extra to the module column and two fifths to the symbol column."""
    base = [w for _, w in COLUMNS]
    extra = max(0, width - 80)
    base[1] += min(extra // 4, 24)
    base[2] += min(extra * 2 // 5, 40)
    return tuple(base)


def _fit(text: str, width: int) -> str:
    return text[: width - 1] + "~" if len(text) > width else text.ljust(width)


def _crc(value: int | None) -> str:
    return "-" if value is None else crc_hex(value)


def provider_width(width: int, widths: tuple[int, ...]) -> int:
    """What is left of a line `width` wide for the provider column."""
    return max(PROVIDER_MIN, width - sum(w + 1 for w in widths))


def header_line(width: int, widths: tuple[int, ...] | None = None, *, sorted_by: str = "") -> str:
    """The column titles, each as wide as its column in the rows (SymbolTable.render_line)."""
    widths = widths or tuple(w for _, w in COLUMNS)
    mark = _SORT_COLUMN.get(sorted_by, "")
    cells = [_fit(title + ("^" if title == mark else ""), w) for (title, _), w in zip(COLUMNS, widths)]
    last = _fit("provider" + ("^" if mark == "provider" else ""), provider_width(width, widths))
    return " ".join([*cells, last])


class SymbolTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "symbol-table--cursor",
        "symbol-table--ok",
        "symbol-table--problem",
        "symbol-table--warning",
    }
    DEFAULT_CSS = """
    SymbolTable { height: 1fr; }
    SymbolTable > .symbol-table--cursor { background: $accent; color: $text; text-style: bold; }
    SymbolTable > .symbol-table--ok { color: $success; }
    SymbolTable > .symbol-table--problem { color: $error; text-style: bold; }
    SymbolTable > .symbol-table--warning { color: $warning; }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    class ColumnsChanged(Message):
        """The columns' widths changed (a resize): the header above is drawn again to match."""

    class Highlighted(Message):
        """The cursor moved to another row (`index` into the model's rows, or None when empty)."""

        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SymbolTable.Highlighted)  # only the latest position matters

    def __init__(self, rows: list[Row], **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows = rows
        self.visible_rows: list[int] = []
        self.cursor = 0
        self._widths = column_widths(80)
        self._line_width = 80  # the rows' width: the provider column takes what the others leave

    def widths(self) -> tuple[int, ...]:
        return self._widths

    def header(self, sorted_by: str) -> str:
        """The header line for these columns, as wide as the rows (the scrollbar's room left out)."""
        return header_line(self._row_width(), self._widths, sorted_by=sorted_by)

    def _row_width(self) -> int:
        """The rows' width: the table's, less the scrollbar when it shows (it comes and goes with
        the rows a filter leaves, without a resize)."""
        return max(1, self.scrollable_content_region.width or self._line_width)

    def on_resize(self) -> None:
        # every row fits the width: a long provider ends in "~" (no sideways scrolling, so the
        # header above, which does not scroll, always lines up)
        widths, line_width = column_widths(self.size.width), max(1, self.size.width)
        if (widths, line_width) != (self._widths, self._line_width):
            self._widths, self._line_width = widths, line_width
            self.virtual_size = Size(1, len(self.visible_rows))  # no sideways scrolling: rows fit
            self.refresh()
            self.post_message(self.ColumnsChanged())

    def show(self, visible: list[int]) -> None:
        """Display these row indexes; keeps the cursor on the same row when it is still shown."""
        current = self.visible_rows[self.cursor] if self.visible_rows and self.cursor < len(self.visible_rows) else None
        self.visible_rows = visible
        if current is not None and visible and len(visible) < 100_000:
            try:
                self.cursor = visible.index(current)
            except ValueError:
                self.cursor = 0
        else:
            self.cursor = 0
        self.virtual_size = Size(1, len(visible))
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.Highlighted(self.current_index))

    @property
    def current_index(self) -> int | None:
        if not self.visible_rows:
            return None
        return self.visible_rows[min(self.cursor, len(self.visible_rows) - 1)]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        position = scroll_y + y
        width = self.size.width
        if position >= len(self.visible_rows):
            return Strip.blank(width, self.rich_style)
        path, symbol, status, need, has, provider = self.rows[self.visible_rows[position]]
        w = self._widths
        text = " ".join((  # drawn as it is, no markup: only what a terminal would act on is escaped
            _fit(STATUS_LABELS.get(status, status), w[0]),
            _fit(shown(os.path.basename(path)), w[1]),
            _fit(shown(symbol) or "(whole module)", w[2]),
            _fit(_crc(need), w[3]),
            _fit(_crc(has), w[4]),
            # a module file's path (or a package's member) by its name: the explanation says where it is
            _fit(shown(os.path.basename(provider) if "/" in provider else provider), provider_width(self._row_width(), w)),
        ))
        if position == self.cursor:
            style = self.get_component_rich_style("symbol-table--cursor")
        elif status == "ok":
            style = self.get_component_rich_style("symbol-table--ok")
        elif status in ("namespace_not_imported", "gpl_only"):
            style = self.get_component_rich_style("symbol-table--warning")
        else:
            style = self.get_component_rich_style("symbol-table--problem")
        line = text.ljust(self._row_width())
        return Strip([Segment(line, style)], len(line)).crop(scroll_x, scroll_x + width).extend_cell_length(width, style)

    def _scroll_cursor_into_view(self) -> None:
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def _move_to(self, cursor: int) -> None:
        if not self.visible_rows:
            return
        previous = self.cursor
        self.cursor = max(0, min(cursor, len(self.visible_rows) - 1))
        if previous != self.cursor:
            self._scroll_cursor_into_view()
            self.refresh()
            self.post_message(self.Highlighted(self.current_index))

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(1, self.size.height - 1))

    def action_jump(self, where: int) -> None:
        self._move_to(0 if where == 0 else len(self.visible_rows) - 1)
