"""Drawing helpers shared by plots/plot.py's figures: matplotlib set-up, axes, titles, legends and
saving (PNG and SVG, recorded in figures.json).  Imported by plot.py (run as a script from this folder)."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

from plot_data import *  # noqa: F401,F403 -- styles and labels

# ---------------------------------------------------------------------------------------------
# Drawing helpers

def setup_matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({
        "font.size": 11, "axes.titlesize": 11.5, "axes.labelsize": 11, "legend.fontsize": 10,
        "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.titlesize": 13,
        "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
        "axes.spines.top": False, "axes.spines.right": False,
        "lines.linewidth": 1.8, "lines.markersize": 6,
        "savefig.dpi": 150, "svg.hashsalt": "driftlab", "svg.fonttype": "path",
    })
    return plt


def good(v) -> bool:
    """A positive finite number (rates and times that can go on a log axis)."""
    return v is not None and math.isfinite(v) and v > 0


def spans_decades(values, factor: float = 10.0) -> bool:
    pos = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return bool(pos) and max(pos) / min(pos) >= factor


def pow2_label(v: float) -> str:
    k = math.log2(v) if v > 0 else float("nan")
    if math.isfinite(k) and abs(k - round(k)) < 1e-9:
        return f"$2^{{{int(round(k))}}}$"
    return f"{v:g}"


def pow2_axis(ax, values, axis: str = "x", max_ticks: int = 9):
    """Log base-2 axis with a tick at the values drawn (thinned to at most max_ticks)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    vals = sorted({v for v in values if v > 0})
    step = max(1, math.ceil(len(vals) / max_ticks))
    ticks = vals[::step]
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
    a.set_major_locator(FixedLocator(ticks))
    a.set_minor_locator(NullLocator())
    if all(v >= 1 and float(v).is_integer() and v <= 4096 for v in ticks):
        a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        a.set_major_formatter(FuncFormatter(lambda v, _: pow2_label(v)))
    if len(vals) >= 1:
        lo, hi = vals[0], vals[-1]
        (ax.set_xlim if axis == "x" else ax.set_ylim)(lo / 2 ** 0.4, hi * 2 ** 0.4)


def number_label(v: float) -> str:
    """0.05, 2, 1,000, 50,000, then 10^6, 2×10^6 and up: short labels for tick marks."""
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1e6:
        return f"{v:,.0f}" if a >= 1 and float(v).is_integer() else f"{v:g}"
    k = math.floor(math.log10(a) + 1e-9)
    m = v / 10 ** k
    return (f"$10^{{{k}}}$" if abs(m - 1) < 1e-9 else f"${m:g}\\times10^{{{k}}}$") if m > 0 else f"$-{-m:g}\\times10^{{{k}}}$"


def log_y(ax, values):
    """Log y. Over less than ~3 decades, ticks at 1, 2, 5 x 10^k so that values can be read off;
    over more, one tick per decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.set_yscale("log")
    pos = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    few = bool(pos) and max(pos) / min(pos) < 1000
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if few else (1.0,)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number_label(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())


def symlog_y(ax, values):
    from matplotlib.ticker import FuncFormatter, SymmetricalLogLocator
    ax.set_yscale("symlog", linthresh=1, linscale=0.5)
    ax.yaxis.set_major_locator(SymmetricalLogLocator(base=10, linthresh=1))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number_label(v)))
    finite = [v for v in values if v is not None]
    top = max(finite) if finite else 1
    ax.set_ylim(-0.3 if min(finite or [0]) >= 0 else None, max(2.0, top * 2.5))


def nice_width(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... ULP at least raw: integer histogram bins."""
    w = 1
    while True:
        for m in (1, 2, 5):
            if w * m >= raw:
                return w * m
        w *= 10


def style_of(variant: str, **kw):
    d = {"color": COLOURS.get(variant, None), "marker": MARKERS.get(variant, "o")}
    d.update(kw)
    return d


def grid_axes(plt, nrows: int, ncols: int, panel_w: float = 6.0, panel_h: float = 4.3, extra_h: float = 1.4, **kw):
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(8.0, panel_w * ncols), panel_h * nrows + extra_h),
                             layout="constrained", squeeze=False, **kw)
    return fig, axes


def title(fig, main: str, stamp: str, extra: str | None = None) -> str:
    """The figure's title: what it shows, then device(s) and date, then an optional note; wrapped
    to the figure's width. Returns the one-line title for figures.json."""
    chars = max(40, int(fig.get_figwidth() * 10.5))
    lines = []
    for part in [main, stamp] + ([extra] if extra else []):
        lines += textwrap.wrap(part, chars) if "\n" not in part else part.split("\n")
    fig.suptitle("\n".join(lines), fontsize=12.5)
    plain = re.sub(r"\$([^$]*)\$", lambda m: re.sub(r"[{}\\]", "", m.group(1)), f"{main} -- {stamp}")
    return plain


def legend_below(fig, axes_list, ncol: int = 4, title_text: str | None = None, extra_handles=(), sort: bool = True):
    handles, labels, seen = [], [], set()
    for ax in axes_list:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in seen and not l.startswith("_"):
                seen.add(l)
                handles.append(h)
                labels.append(l)
    # variants in their usual order first, then baselines and reference lines
    def rank(item):
        word = re.split(r"[ :]", item[1])[0]
        return (0, ORDER.index(word)) if word in ORDER and word not in ("openblas", "cublas") else (1, 0)
    pairs = sorted(zip(handles, labels), key=rank) if sort else list(zip(handles, labels))
    handles, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    for h in extra_handles:
        handles.append(h)
        labels.append(h.get_label())
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(handles)),
                   title=title_text, frameon=False)


def save(fig, plt, out: Path, name: str, title_text: str, drawn: list):
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    # bbox_inches="tight": the legend below the axes must never be clipped at the edges.
    fig.savefig(png, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.15)
    fig.savefig(svg, metadata={"Date": None, "Creator": None}, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    drawn.append({"name": name, "title": title_text, "png": png.name, "svg": svg.name})
