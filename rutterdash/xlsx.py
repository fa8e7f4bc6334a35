"""Stream safe, readable XLSX workbooks with openpyxl's write-only mode.

Every workbook the product hands out goes through this module, so the rules
live in one place: real dates, numbers as numbers (money with a money
format), a bold frozen header with an autofilter, column widths, sheet names
Excel accepts, no characters XLSX forbids, and no cell text a spreadsheet
would run as a formula.

Rows go through a converter per column chosen once, when the sheet is
declared, and styled columns reuse one prepared cell each, because an export
writes millions of cells.
"""

import re
from dataclasses import dataclass
from datetime import UTC

from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.styles.numbers import FORMAT_DATE_DATETIME, FORMAT_DATE_YYYYMMDD2
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = FORMAT_DATE_YYYYMMDD2
DATETIME_FORMAT = FORMAT_DATE_DATETIME
TEXT = "text"
DATE = "date"
DATETIME = "datetime"
MONEY = "money"
INTEGER = "integer"
DECIMAL = "decimal"
KINDS = (TEXT, DATE, DATETIME, MONEY, INTEGER, DECIMAL)

DEFAULT_WIDTHS = {
    TEXT: 24,
    DATE: 12,
    DATETIME: 20,
    MONEY: 15,
    INTEGER: 10,
    DECIMAL: 12,
}
MAX_WIDTH = 60

# What makes Excel, LibreOffice or Sheets evaluate typed-in text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_GUARD = "'"
# Phone numbers and signed figures ("+1 555 0100", "-42.50") start like a
# formula but can do nothing; guarding them would corrupt real data.
HARMLESS_SIGNED = re.compile(r"[+-][0-9 ().-]*")
MAX_CELL_TEXT = 32767

MAX_SHEET_NAME = 31
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# Excel keeps this name for itself.
RESERVED_SHEET_NAMES = {"history"}

BOLD = Font(bold=True)


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = TEXT
    width: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Unknown column kind {self.kind!r}")

    @property
    def display_width(self):
        if self.width:
            return self.width
        fitted = max(DEFAULT_WIDTHS[self.kind], len(self.header) + 3)
        return min(fitted, MAX_WIDTH)


def safe_text(value):
    """Text that XLSX accepts and that no spreadsheet runs as a formula."""
    if type(value) is not str:
        value = str(value)
    # Every forbidden character is unprintable; most text has none.
    if not value.isprintable():
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    stripped = value.lstrip()
    if stripped.startswith(FORMULA_TRIGGERS) or value.startswith(FORMULA_TRIGGERS):
        if not HARMLESS_SIGNED.fullmatch(stripped):
            value = FORMULA_GUARD + value
    return value[:MAX_CELL_TEXT]


def naive_utc(value):
    """Excel has no time zones: aware datetimes become naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def safe_sheet_name(title, taken=()):
    """A sheet name Excel accepts and that no name in `taken` already uses."""
    name = ILLEGAL_CHARACTERS_RE.sub("", SHEET_NAME_FORBIDDEN.sub(" ", title))
    # Excel also refuses a name that starts or ends with an apostrophe.
    name = " ".join(name.split())[:MAX_SHEET_NAME].strip(" '") or "Sheet"
    if name.lower() in RESERVED_SHEET_NAMES:
        name = f"{name} (1)"

    used = {other.lower() for other in taken}
    candidate, number = name, 2
    while candidate.lower() in used:
        suffix = f" ({number})"
        candidate = name[: MAX_SHEET_NAME - len(suffix)].rstrip() + suffix
        number += 1
    return candidate


PLAIN_CONVERTERS = {TEXT: safe_text, DATETIME: naive_utc}
CELL_FORMATS = {DATE: DATE_FORMAT, DATETIME: DATETIME_FORMAT, MONEY: MONEY_FORMAT}


class _ReusedCell(Cell):
    """A styled cell written again and again with new values.

    Its style never changes, so its style id is looked up once, not per value.
    """

    __slots__ = ("_fixed_style_id",)

    def __init__(self, worksheet, number_format):
        super().__init__(worksheet, row=1, column=1)
        self.number_format = number_format
        self._fixed_style_id = super().style_id

    @property
    def style_id(self):
        return self._fixed_style_id


class _StreamingWorksheet(WriteOnlyWorksheet):
    """openpyxl's write-only sheet, taking prepared cells as they are.

    openpyxl's own row loop tries every value as a plain value first and
    takes the failure to mean "this is a cell"; for the styled cells of
    money and date columns that failed attempt was the costliest step.
    Rows carry no hyperlinks or comments here, so neither is handled.
    """

    def _values_to_row(self, values, row_idx):
        cell = WriteOnlyCell(self)
        for column, value in enumerate(values, 1):
            if value is None:
                continue
            if isinstance(value, Cell):
                value.row, value.column = row_idx, column
                yield value
                continue

            cell.value = value
            cell.row, cell.column = row_idx, column
            yield cell
            if cell.has_style:
                cell = WriteOnlyCell(self)


class Workbook:
    """A write-only workbook of `Sheet`s, saved once to a file-like object."""

    def __init__(self):
        self._book = OpenpyxlWorkbook(write_only=True)
        self._sheets = []

    def add_sheet(self, title, columns):
        taken = [sheet.title for sheet in self._sheets]
        worksheet = _StreamingWorksheet(self._book, safe_sheet_name(title, taken))
        self._book._add_sheet(worksheet)
        sheet = Sheet(worksheet, columns)
        self._sheets.append(sheet)
        return sheet

    def save(self, fileobj):
        for sheet in self._sheets:
            sheet.finish()
        self._book.save(fileobj)


class Sheet:
    """One worksheet: its header is written at once, rows as they come."""

    def __init__(self, worksheet, columns):
        self._worksheet = worksheet
        self.columns = tuple(columns)
        self.rows_written = 0
        self._converters = [self._converter(c.kind) for c in self.columns]
        self._set_widths()
        worksheet.freeze_panes = "A2"
        worksheet.append([self._header_cell(c.header) for c in self.columns])

    @property
    def title(self):
        return self._worksheet.title

    def append(self, values):
        row = [
            value if convert is None or value is None else convert(value)
            for convert, value in zip(self._converters, values, strict=False)
        ]
        self._worksheet.append(row)
        self.rows_written += 1

    def extend(self, rows):
        append = self.append
        for values in rows:
            append(values)

    def append_emphasised(self, values):
        """A bold row, such as a total; rare, so it is built cell by cell."""
        row = [
            self._bold_cell(column.kind, value)
            for column, value in zip(self.columns, values, strict=False)
        ]
        self._worksheet.append(row)
        self.rows_written += 1

    def finish(self):
        last_column = get_column_letter(len(self.columns))
        last_row = self.rows_written + 1
        self._worksheet.auto_filter.ref = f"A1:{last_column}{last_row}"

    def _set_widths(self):
        # Write-only sheets emit column settings before the first row.
        dimensions = self._worksheet.column_dimensions
        for index, column in enumerate(self.columns, 1):
            dimensions[get_column_letter(index)].width = column.display_width

    def _header_cell(self, header):
        cell = WriteOnlyCell(self._worksheet, safe_text(header))
        cell.font = BOLD
        return cell

    def _bold_cell(self, kind, value):
        convert = PLAIN_CONVERTERS.get(kind)
        if convert is not None and value is not None:
            value = convert(value)
        cell = WriteOnlyCell(self._worksheet, value)
        cell.font = BOLD
        if kind == MONEY:
            cell.number_format = MONEY_FORMAT
        return cell

    def _converter(self, kind):
        """The function a column's values pass through; None means as they are.

        Numbers need nothing: openpyxl writes them as numbers.
        """
        number_format = CELL_FORMATS.get(kind)
        if number_format is None:
            return PLAIN_CONVERTERS.get(kind)
        return self._styled(number_format, PLAIN_CONVERTERS.get(kind))

    def _styled(self, number_format, convert=None):
        # One cell per column, reused: openpyxl writes each row as it is
        # appended, so a cell is free again once append() returns.
        cell = _ReusedCell(self._worksheet, number_format)

        def styled(value):
            cell.value = value
            return cell

        def converted_and_styled(value):
            cell.value = convert(value)
            return cell

        return styled if convert is None else converted_and_styled
