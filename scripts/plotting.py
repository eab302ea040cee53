"""The project's one way of drawing plots for its scripts and reports (scripts/load,
scripts/bench/soak, ...): matplotlib from Debian's python3-matplotlib (installed by
scripts/setup), the Agg backend (no display needed), real fonts, axes and legends, and
every figure saved twice: NAME.png for viewing and NAME.svg for documents.

Scripts that plot run under Debian's Python (#!/usr/bin/python3), where that package is
installed; another Python on the PATH may not see it.

    from plotting import new_figure, save_figure
    fig, ax = new_figure("title", xlabel="seconds", ylabel="ms")
    ax.plot(...)
    save_figure(fig, "out/latency")        # out/latency.png and out/latency.svg
"""
import os


class PlottingUnavailable(Exception):
    """matplotlib cannot be imported; the message says how to get it."""


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        # SVG text stays text (searchable, drawn in the reader's fonts), not glyph outlines.
        matplotlib.rcParams["svg.fonttype"] = "none"
        import matplotlib.pyplot as pyplot
    except ImportError as error:
        raise PlottingUnavailable(
            f"matplotlib is not available to {os.path.realpath(os.sys.executable)} ({error}): run scripts/setup "
            f"(it installs Debian's python3-matplotlib) and run this script with /usr/bin/python3") from None
    return pyplot


def new_figure(title, xlabel, ylabel, width=10.0, height=5.0, rows=1):
    """A figure of width x height inches with `rows` stacked axes sharing the x axis
    (answers (figure, axes) for one row, (figure, [axes...]) for more), titled, labelled
    and gridded."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(rows, 1, figsize=(width, height), sharex=True, squeeze=False)
    axes = [row[0] for row in axes]
    figure.suptitle(title)
    for ax in axes:
        ax.grid(True, which="major", color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
    axes[-1].set_xlabel(xlabel)
    if isinstance(ylabel, str):
        ylabel = [ylabel] * rows
    for ax, label in zip(axes, ylabel):
        ax.set_ylabel(label)
    return (figure, axes[0]) if rows == 1 else (figure, axes)


def use_log_scale(ax):
    """A log y axis labelled with plain numbers at 1, 2 and 5 times each power of ten (a
    narrow range shows more than one tick)."""
    _pyplot()
    from matplotlib import ticker
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def save_figure(figure, base):
    """Writes base.png (150 dpi) and base.svg; answers their paths."""
    pyplot = _pyplot()
    figure.tight_layout()
    paths = (base + ".png", base + ".svg")
    figure.savefig(paths[0], dpi=150)
    figure.savefig(paths[1])
    pyplot.close(figure)
    return paths
