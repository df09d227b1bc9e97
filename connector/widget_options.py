"""What a saved query's ``widget`` may say about its Workspace entry, checked when it is
saved: an option Workspace would reject makes Workspace load no widget at all, so it is
refused then (400 ``bad_widget`` naming the field), never left out later.

Rules from OpenBB's widgets.json reference and Workspace's frontend: ``refetchInterval`` is
a number of milliseconds of at least 1000, ``false``, or a cron string; ``staleTime`` at
least 1000; a chart type is one of AG Grid's integrated chart types; ``gridData`` is
1-40 wide and 1-100 high; column overrides are merged into the generated column
definitions by ``field``.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector.charts import ChartSpec
from connector.errors import BadRequestError

# AG Grid's integrated chart types (ChartType in its API reference).
ChartType = Literal[
    "column", "groupedColumn", "stackedColumn", "normalizedColumn",
    "bar", "groupedBar", "stackedBar", "normalizedBar",
    "line", "stackedLine", "normalizedLine",
    "scatter", "bubble", "pie", "donut", "doughnut",
    "area", "stackedArea", "normalizedArea", "histogram",
    "radarLine", "radarArea", "nightingale", "radialColumn", "radialBar",
    "sunburst", "treemap", "heatmap", "waterfall", "boxPlot", "rangeBar", "rangeArea",
    "columnLineCombo", "areaColumnCombo", "customCombo",
]  # fmt: skip
CHART_TYPES: tuple[str, ...] = get_args(ChartType)
FormatterFn = Literal["int", "none", "percent", "normalized", "normalizedPercent", "dateToYear"]
RenderFn = Literal[
    "greenRed", "titleCase", "hoverCard", "cellOnClick", "columnColor", "showCellChange"
]
CellDataType = Literal["text", "number", "boolean", "date", "dateString", "object"]
# Five or six fields of a cron expression, as Workspace's refetchInterval takes it.
_CRON = re.compile(r"^\s*(\S+\s+){4,5}\S+\s*$")
DeclaredType = Literal[
    "integer", "decimal", "float", "string", "boolean", "date", "time", "datetime",
    "binary", "json",
]  # fmt: skip


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GridData(Strict):
    w: int = Field(ge=1, le=40)
    h: int = Field(ge=1, le=100)


class ColumnOverride(Strict):
    """One column's settings on top of the generated definition, matched by ``field``."""

    field: str = Field(min_length=1)
    headerName: str | None = None
    headerTooltip: str | None = None
    formatterFn: FormatterFn | None = None
    renderFn: RenderFn | None = None
    renderFnParams: dict[str, Any] | None = None
    cellDataType: CellDataType | None = None
    width: int | None = Field(default=None, ge=10, le=2000)
    pinned: Literal["left", "right"] | None = None
    hide: bool | None = None


class WidgetOptions(Strict):
    """Everything a saved query's ``widget`` may set."""

    type: str = "table"
    name: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=100)
    subCategory: str | None = Field(default=None, min_length=1, max_length=100)
    gridData: GridData | None = None
    refetchInterval: int | Literal[False] | str | None = None
    staleTime: int | None = Field(default=None, ge=1000)
    runButton: bool | None = None
    dataUpdateDisplay: bool | None = None
    exportable: bool | None = None
    imgUrl: str | None = None
    chartType: ChartType | None = None
    columnsDefs: list[ColumnOverride] | None = None
    # Cell clicks that set a param for the whole app: result column -> param name
    # (renderFn cellOnClick with a groupBy action on that column).
    groupBy: dict[str, str] | None = None
    # A plotly widget's figure: kind and columns (connector.charts).
    chart: ChartSpec | None = None
    # The apps.json app this widget goes in (its connection's app when unset).
    app: str | None = Field(default=None, min_length=1, max_length=100)
    # Result column types declared up front: widgets.json then needs no probe.
    columns: dict[str, DeclaredType] | None = None

    @model_validator(mode="after")
    def _chart_for_plotly(self) -> WidgetOptions:
        if self.type == "plotly" and self.chart is None:
            raise ValueError("chart: a plotly widget needs a chart ({kind, x, y})")
        if self.type != "plotly" and self.chart is not None:
            raise ValueError("chart: only a plotly widget takes a chart")
        return self

    @field_validator("groupBy")
    @classmethod
    def _group_by(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for column, param in (value or {}).items():
            if not column or not re.match(r"^[A-Za-z_]\w{0,63}$", param):
                raise ValueError("maps a result column to a param name")
        return value

    @field_validator("refetchInterval")
    @classmethod
    def _refetch(cls, value: int | bool | str | None) -> int | bool | str | None:
        if value is None or value is False:
            return value
        if isinstance(value, bool):
            raise ValueError("must be a number of milliseconds of at least 1000, false or cron")
        if isinstance(value, int):
            if value < 1000:
                raise ValueError("must be at least 1000 (milliseconds)")
            return value
        if not _CRON.match(value):
            raise ValueError("must be a number of milliseconds, false or a cron string")
        return value


class WidgetOptionError(BadRequestError):
    code = "bad_widget"


def check_widget(widget: dict[str, Any]) -> WidgetOptions:
    """The widget options, or a 400 naming the field Workspace would reject."""
    try:
        return WidgetOptions.model_validate(widget)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in ("widget", *first.get("loc", ())))
        message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
        field, colon, rest = message.partition(": ")
        if colon and field.isidentifier():  # a model-level check names its field first
            where, message = f"{where}.{field}", rest
        if first.get("type") == "extra_forbidden":
            message = "is not a widget option this connector knows"
        elif first.get("type") == "literal_error" and where.endswith("chartType"):
            message = f"must be one of AG Grid's chart types: {', '.join(CHART_TYPES)}"
        raise WidgetOptionError(f"{where}: {message}.") from None
