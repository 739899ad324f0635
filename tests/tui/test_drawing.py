"""The sparklines' time axis: one column per scrape from the right until the span fills, then
span/width seconds a column, scrolling. Pure functions, no terminal."""

from __future__ import annotations

import math

import pytest

from sparktop.tui import drawing

T0 = 1_790_000_000.0  # epoch seconds, as in recordings: rounding errors must not move columns


def scrapes(count: int, interval: float = 1.0, jitter: float = 0.0, offset: float = 0.0) -> list[float]:
    """``count`` scrape times ``interval`` apart from ``T0 + offset``, every other one ``jitter`` late."""
    return [T0 + offset + i * interval + (jitter if i % 2 else 0.0) for i in range(count)]


def known(cols: list[float]) -> list[int]:
    return [i for i, v in enumerate(cols) if v == v]


@pytest.mark.parametrize("width", [17, 27, 40, 60])
def test_32_seconds_draw_from_the_right_not_squeezed_into_the_span(width: int) -> None:
    """32 scrapes of a 5-minute span: as many columns as the width allows, ending at the right."""
    t = scrapes(32)
    axis = drawing.time_axis(t, now=t[-1], span=300.0, width=width, interval=1.0)
    cols = drawing.columns(t, [float(i) for i in range(32)], axis)
    filled = known(cols)
    per_column = math.ceil(32 / width)
    assert axis.step == per_column
    assert filled[-1] == width - 1  # the newest scrape is the last column
    assert len(filled) >= 32 // per_column  # every scrape drawn, not squeezed into 3 columns
    assert filled == list(range(filled[0], width))  # no holes
    # the label is the time the width covers (a steady scale), not the data's age
    assert axis.label == f"{per_column * width} s" and not axis.full


def test_one_column_per_scrape_while_they_fit() -> None:
    t = scrapes(32)
    values = [float(i) for i in range(32)]
    axis = drawing.time_axis(t, now=t[-1] + 0.4, span=300.0, width=40, interval=1.0)
    assert drawing.columns(t, values, axis)[-32:] == values  # one each, in order
    assert all(v != v for v in drawing.columns(t, values, axis)[:-32])


def test_a_full_span_scrolls_at_span_over_width_on_a_grid_fixed_in_time() -> None:
    t = scrapes(400)
    values = [float(i % 7) for i in range(400)]
    width = 17
    first = drawing.time_axis(t[:-1], now=t[-2], span=300.0, width=width, interval=1.0)
    second = drawing.time_axis(t, now=t[-1], span=300.0, width=width, interval=1.0)
    assert first.full and first.label == "5 min"
    assert first.step == pytest.approx(300.0 / width)
    # the next scrape moves the grid by whole columns or not at all: old columns keep their content
    moved = (second.end - first.end) / first.step
    assert moved == pytest.approx(round(moved), abs=1e-6)
    a = drawing.columns(t[:-1], values[:-1], first)
    b = drawing.columns(t, values, second)
    shift = round(moved)
    assert a[shift : width - 1] == b[: width - 1 - shift]


def test_the_columns_grow_coarser_one_scrape_at_a_time() -> None:
    """More scrapes than columns: two per column, then three... never a jump to the full span."""
    width = 20
    steps = []
    for count in (20, 21, 40, 41, 60, 61, 299, 300):
        t = scrapes(count)
        steps.append(drawing.time_axis(t, now=t[-1], span=300.0, width=width, interval=1.0).step)
    assert steps == [1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 15.0, 15.0]


@pytest.mark.parametrize("offset", [0.0, 0.5, 0.98])
@pytest.mark.parametrize("jitter", [0.04, 0.3])
def test_a_scrape_a_little_late_leaves_no_blank_column(offset: float, jitter: float) -> None:
    """Scrapes whenever in the second they happen (on a whole second too), some a little late."""
    t = scrapes(30, jitter=jitter, offset=offset)
    axis = drawing.time_axis(t, now=t[-1], span=300.0, width=40, interval=1.0)
    filled = known(drawing.columns(t, [1.0] * 30, axis))
    assert filled == list(range(10, 40))


def test_missing_scrapes_show_as_a_gap_at_the_right() -> None:
    t = scrapes(20)
    late = drawing.time_axis(t, now=t[-1] + 1.4, span=300.0, width=40, interval=1.0)
    assert known(drawing.columns(t, [1.0] * 20, late))[-1] == 39  # one interval late: still current
    gone = drawing.time_axis(t, now=t[-1] + 3.0, span=300.0, width=40, interval=1.0)
    filled = known(drawing.columns(t, [1.0] * 20, gone))
    assert filled[-1] == 37  # two scrapes overdue: two blank columns
    assert gone.label == "40 s"  # the width's time, overdue scrapes or not


def test_a_wide_sparkline_with_a_short_span_keeps_one_column_per_scrape() -> None:
    t = scrapes(90, interval=1.0)
    axis = drawing.time_axis(t[-61:], now=t[-1], span=60.0, width=100, interval=1.0)
    cols = drawing.columns(t[-61:], [1.0] * 61, axis)
    assert axis.step == 1.0 and axis.full
    assert 60 <= len(known(cols)) <= 61 and known(cols)[-1] == 99


def test_a_series_the_history_lacks_is_no_data() -> None:
    t = scrapes(10)
    axis = drawing.time_axis(t, now=t[-1], span=300.0, width=20, interval=1.0)
    assert known(drawing.columns(t, (), axis)) == []


def test_no_history() -> None:
    axis = drawing.time_axis([], now=T0, span=300.0, width=20, interval=1.0)
    assert known(drawing.columns([], [], axis)) == []
    assert axis.label == "5 min"
    assert drawing.shown_seconds([], T0, 300.0, 1.0) == 0.0


@pytest.mark.parametrize(
    ("span", "shown", "label"),
    [
        (300.0, 300.0, "5 min"),
        (60.0, 60.0, "1 min"),
        (1800.0, 1800.0, "30 min"),
        (30.0, 30.0, "30 s"),
    ],
)
def test_span_labels(span: float, shown: float, label: str) -> None:
    assert drawing.TimeAxis(T0, 1.0, 10, span, shown).label == label


@pytest.mark.parametrize(
    ("step", "width", "label"),
    [(1.0, 40, "40 s"), (2.0, 40, "80 s"), (3.0, 40, "2 min"), (29.0, 10, "4m50s"), (0.25, 50, "12.5 s")],
)
def test_until_the_span_fills_the_label_is_the_time_the_width_covers(
    step: float, width: int, label: str
) -> None:
    assert drawing.TimeAxis(T0, step, width, 300.0, 32.0).label == label


def test_the_label_changes_with_the_columns_not_with_every_scrape() -> None:
    labels = []
    for count in range(1, 100):
        t = scrapes(count)
        labels.append(drawing.time_axis(t, now=t[-1], span=300.0, width=20, interval=1.0).label)
    assert sorted(set(labels), key=labels.index) == ["20 s", "40 s", "60 s", "80 s", "100 s"]


def test_quarter_second_scrapes() -> None:
    t = scrapes(40, interval=0.25)
    axis = drawing.time_axis(t, now=t[-1], span=60.0, width=50, interval=0.25)
    assert axis.step == 0.25 and axis.label == "12.5 s"
    assert len(known(drawing.columns(t, [1.0] * 40, axis))) == 40
