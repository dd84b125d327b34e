"""Every build kmodtui ran or is running, one row per kernel (the build matrix as a grid):
Enter follows one (its live log, findings, symbols)."""

from __future__ import annotations

import os

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from kmodtui.messages import BuildsListed
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip

STATE_MARKS = {"succeeded": "ok", "failed": "FAIL", "running": "...", "cancelled": "stop", "timed out": "time",
               "died": "died"}


def build_details(record: dict) -> str:
    """A build record's facts: the source's path, what its Makefile built, each escaped."""
    lines = [f"[b]{escape(record.get('state', '?'))}[/]  {escape(record.get('mode', ''))} build",
             escape(f"Kernel   {record.get('kernel', '')}"), escape(f"Source   {record.get('source', '')}"),
             escape(f"Log      {record.get('log', '')}")]
    artifacts = record.get("artifacts") or []
    if artifacts:
        lines += ["", "Built:"] + [escape(f"  {os.path.basename(a)}") for a in artifacts]
    errors = [f for f in record.get("findings") or [] if f.get("severity") == "error"]
    if errors:
        lines += ["", "First problems:"] + [escape(f"  line {f['line']}: {f['title']}") for f in errors[:5]]
    return "\n".join(lines)


class BuildsScreen(Screen[None]):
    HELP_TEXT = """Every build kmodtui ran or is running, newest first, one row per kernel. Enter follows one:
its live log, findings and symbols. r refreshes the list. m shows them as the build matrix (what
`kmodtui matrix report` prints): kernels and sources down, modes and arches across, each cell the newest
build's outcome and a failure's cause; Enter on a cell follows that build."""
    CSS_PATH = "wizard.tcss"
    BINDINGS = [
        Binding("enter", "follow", "Follow", id="builds.follow", key_display="Enter"),
        Binding("r", "refresh", "Refresh", id="builds.refresh"),
        Binding("m", "matrix", "Matrix", id="builds.matrix"),
        Binding("escape", "back", "Back", id="builds.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []

    def compose(self) -> ComposeResult:
        yield StepStrip("Build")
        with Horizontal(classes="wizard-body"):
            yield OptionList(id="builds-list", classes="wizard-list")
            yield DataTable(id="builds-grid", cursor_type="cell", zebra_stripes=True)
            with VerticalScroll(classes="wizard-details"):
                yield Static("No builds yet.", id="builds-details")
        yield Static("Builds keep running when you close kmodtui or lose the SSH link; this list shows each "
                     "kernel's build of each source (the build matrix). Enter follows one.", classes="wizard-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#builds-list").border_title = "Builds, newest first"
        grid = self.query_one("#builds-grid", DataTable)
        grid.border_title = "Build matrix: kernels and sources down, modes and arches across"
        grid.display = False
        self.grid_cells: dict[tuple[str, str], int] = {}  # (source+kernel, mode+arch) -> its newest record
        self.action_refresh()

    def action_matrix(self) -> None:
        """Toggle between the list and the grid (the same builds)."""
        grid = self.query_one("#builds-grid", DataTable)
        listing = self.query_one("#builds-list", OptionList)
        grid.display, listing.display = not grid.display, grid.display
        (grid if grid.display else listing).focus()

    def fill_grid(self) -> None:
        """A line per (source, kernel), a column per (mode, arch): each cell the newest build of it
        (the cells `kmodtui matrix report` draws)."""
        from kmodtui.core.build.matrix.report import record_cell

        grid = self.query_one("#builds-grid", DataTable)
        grid.clear(columns=True)
        self.grid_cells = {}
        lines: dict[str, str] = {}
        columns: dict[str, str] = {}
        for position, record in enumerate(self.records):  # newest first: the first seen is the newest
            source, kernel, arch, mode = record_cell(record)
            line, column = f"{source}\0{kernel}", f"{mode}\0{arch}"
            lines[line] = f"{kernel} {os.path.basename(source)}"
            columns[column] = f"{mode} {arch}".strip()
            self.grid_cells.setdefault((line, column), position)
        grid.add_column("kernel source", key="kernel")
        for column in sorted(columns):
            grid.add_column(escape(columns[column]), key=column)
        for line in sorted(lines):
            row = [escape(lines[line])]
            for column in sorted(columns):
                found = self.grid_cells.get((line, column))
                if found is None:
                    row.append("-")
                    continue
                record = self.records[found]
                cause = (record.get("primary") or {}).get("cause", "")
                row.append(STATE_MARKS.get(record.get("state", ""), "?") + (f" {escape(cause)}" if cause else ""))
            grid.add_row(*row, key=line)

    @on(DataTable.CellHighlighted, "#builds-grid")
    def grid_show(self, event: DataTable.CellHighlighted) -> None:
        index = self._grid_record(event.coordinate)
        if index is not None:
            self.query_one("#builds-details", Static).update(build_details(self.records[index]))

    def _grid_record(self, coordinate: object) -> int | None:
        grid = self.query_one("#builds-grid", DataTable)
        try:
            row_key, column_key = grid.coordinate_to_cell_key(coordinate)  # type: ignore[arg-type]
        except Exception:
            return None
        return self.grid_cells.get((str(row_key.value), str(column_key.value)))

    def action_refresh(self) -> None:
        self.list_builds()

    @work(thread=True, exclusive=True, group="builds-list")
    def list_builds(self) -> None:
        from kmodtui.core.build.record import list_builds

        self.post_message(BuildsListed(list_builds()))

    @on(BuildsListed)
    def show_builds(self, message: BuildsListed) -> None:
        self.records = message.records
        option_list = self.query_one("#builds-list", OptionList)
        option_list.clear_options()
        for index, record in enumerate(self.records):
            mark = STATE_MARKS.get(record.get("state", ""), "?")
            source = os.path.basename(str(record.get("source", "")))
            option_list.add_option(Option(escape(f"{mark:4} {record.get('kernel', '')}\n     {source} "
                                                 f"({record.get('mode', '')})"), id=str(index)))
        if self.records:
            option_list.highlighted = 0
            option_list.focus()
            self.query_one("#builds-details", Static).update(build_details(self.records[0]))
        self.fill_grid()

    @on(OptionList.OptionHighlighted, "#builds-list")
    def show(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id is not None:
            self.query_one("#builds-details", Static).update(build_details(self.records[int(event.option_id)]))

    @on(OptionList.OptionSelected, "#builds-list")
    def selected(self) -> None:
        self.action_follow()

    @on(DataTable.CellSelected, "#builds-grid")
    def grid_selected(self) -> None:
        self.action_follow()

    def action_follow(self) -> None:
        from kmodtui.screens.build import BuildScreen

        grid = self.query_one("#builds-grid", DataTable)
        if grid.display:
            index = self._grid_record(grid.cursor_coordinate)
        else:
            index = self.query_one("#builds-list", OptionList).highlighted
        if index is None or not self.records:
            return
        self.app.push_screen(BuildScreen(self.records[int(index)]["dir"]))

    def action_back(self) -> None:
        go_back(self.app)
