#!/usr/bin/env python3
"""Draw driftlab's figures from the JSON files of `driftlab report` (docs/report-files.md).

    python plots/plot.py --in DIR --out OUTDIR

Reads only DIR/bench.json, sum_drift.json, ulp_hist.json, batch_invariance.json,
predict_bf16.json, allreduce.json and machine.json; writes OUTDIR/<figure>.png and .svg for every figure its data allows, and
OUTDIR/figures.json listing them ([{"name", "title", "png", "svg"}], file names relative to
OUTDIR). A missing file (or a file without the data a figure needs) skips those figures with a
one-line note on stderr. Exit status 0 when at least one figure was drawn; 1 with a message when
a file is malformed (nothing is written then) or nothing at all could be drawn.

Standard library + matplotlib (Agg backend) + numpy only; no network.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling modules, however plot.py is loaded
from plot_data import *  # noqa: E402,F401,F403 -- the parsers, styles and labels (plot_data.py)
from plot_data import FILES, PROG, Labels, Malformed, load_all, note  # noqa: F401 -- named for readers
from plot_style import *  # noqa: E402,F401,F403 -- the drawing helpers (plot_style.py)

# ---------------------------------------------------------------------------------------------
# The figures. Each returns None when drawn, or the reason it was skipped.

def fig_sum_throughput(plt, data, labels: Labels, out: Path, drawn: list):
    bench = data["bench.json"][0]
    sums = {k: v for k, v in bench.items() if k[0] == "sum" and k[2] == "f32"
            and good(v["bytes_per_second"])}
    if not sums:
        return "bench.json has no f32 sum/<backend>/f32/uniform/<variant>/<n> entries"
    backends = sorted({k[1] for k in sums}, key=backend_key)
    fig, axes = grid_axes(plt, 1, len(backends))
    for ax, be in zip(axes[0], backends):
        series: dict = {}
        for (_, b, _, variant, n), v in sums.items():
            if b == be:
                series.setdefault(variant, []).append((n, v["bytes_per_second"] / 1e9))
        all_n, all_y = [], []
        for variant in sorted(series, key=order_key):
            pts = sorted(series[variant])
            ns = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            if variant == "read_probe":
                ax.plot(ns, ys, linestyle="--", color="black", linewidth=1.6, marker="o", markersize=4,
                        markerfacecolor="none", label="read_probe (streaming read: the bandwidth reference)")
            elif variant == "d2d_copy":
                ys = [y / 2 for y in ys]
                ax.plot(ns, ys, linestyle="--", color="black", linewidth=1.6, marker="o", markersize=4,
                        markerfacecolor="none", label="d2d_copy read rate (bytes/s / 2)")
            else:
                ax.plot(ns, ys, label=variant, **style_of(variant))
            all_n += ns
            all_y += ys
        pow2_axis(ax, all_n)
        log_y(ax, all_y)
        ax.set_xlabel("n (float32 elements, 4 bytes each)")
        ax.set_ylabel("throughput (GB/s, 1 GB = 10$^9$ bytes)")
        ax.set_title(f"{be}: {labels.device(be)}")
    t = title(fig, "Summation throughput, float32 only: median GB/s of input read against n",
              labels.stamp(labels.device(b) for b in backends))
    legend_below(fig, axes[0], ncol=4)
    save(fig, plt, out, "sum_throughput", t, drawn)


def fig_cost_of_determinism(plt, data, labels: Labels, out: Path, drawn: list):
    bench = data["bench.json"][0]
    sums = {k: v for k, v in bench.items() if k[0] == "sum" and k[2] == "f32" and good(v["time_s"])}
    backends = sorted({k[1] for k in sums if k[3] == "atomic"}, key=backend_key)
    if not backends:
        return "bench.json has no f32 sum/<backend>/f32/uniform/atomic/<n> entries to compare against"
    fig, axes = grid_axes(plt, 1, len(backends))
    for ax, be in zip(axes[0], backends):
        atomic = {k[4]: v["time_s"] for k, v in sums.items() if k[1] == be and k[3] == "atomic"}
        series: dict = {}
        for (_, b, _, variant, n), v in sums.items():
            if b == be and n in atomic and variant not in ("atomic", "read_probe", "d2d_copy"):
                series.setdefault(variant, []).append((n, v["time_s"] / atomic[n]))
        ax.axhline(1.0, color=COLOURS["atomic"], linewidth=2.2, label="atomic = 1 (the reference)")
        all_y = [1.0]
        for variant in sorted(series, key=order_key):
            pts = sorted(series[variant])
            ys = [p[1] for p in pts]
            all_y += ys
            ax.plot([p[0] for p in pts], ys, label=variant, **style_of(variant))
        pow2_axis(ax, list(atomic))
        if spans_decades(all_y, 8):
            log_y(ax, all_y)
        ax.set_xlabel("n (float32 elements)")
        ax.set_ylabel("median time / atomic's median time (×)")
        ax.set_title(f"{be}: {labels.device(be)}")
    t = title(fig, "Cost of determinism: each variant's median time relative to atomic at the same n (float32)",
              labels.stamp(labels.device(b) for b in backends),
              "above 1 = slower than atomic")
    legend_below(fig, axes[0], ncol=4)
    save(fig, plt, out, "cost_of_determinism", t, drawn)


def fig_drift_vs_n(plt, data, labels: Labels, out: Path, drawn: list):
    from matplotlib.lines import Line2D
    rows = [r for r in data["sum_drift.json"] if r["variant"] in ("atomic", "atomic_element", "tree", "exact")]
    if not any(r["variant"] in ("atomic", "atomic_element") for r in rows):
        return "sum_drift.json has no atomic or atomic_element rows"
    backends = sorted({r["backend"] for r in rows}, key=backend_key)
    known = ["uniform", "normal", "illcond", "file"]
    dists = sorted(dict.fromkeys(r["dist"] for r in rows),
                   key=lambda d: (known.index(d) if d in known else len(known), d))
    dstyle = {d: DIST_STYLES[i % len(DIST_STYLES)] for i, d in enumerate(dists)}
    dtypes = sorted({r["dtype"] for r in rows})
    runs = sorted({r["runs"] for r in rows if r["runs"]})
    fig, axes = grid_axes(plt, len(backends), 2, panel_h=4.2)
    for (ax_d, ax_u), be in zip(axes, backends):
        groups: dict = {}
        for r in rows:
            if r["backend"] == be:
                groups.setdefault((r["variant"], r["dist"], r["dtype"]), {})[r["n"]] = r  # last row wins
        all_n, all_d, all_u = [], [], []
        for (variant, dist, dtype) in sorted(groups, key=lambda g: (order_key(g[0]), dists.index(g[1]), g[2])):
            pts = sorted(groups[(variant, dist, dtype)].items())
            ns = [n for n, _ in pts]
            thin = variant in ("tree", "exact")
            kw = style_of(variant, linestyle=dstyle[dist], label=variant,
                          markerfacecolor="none" if variant == "exact" else None,
                          markersize=8 if variant == "exact" else 6, linewidth=1.3 if thin else 1.9)
            ax_d.plot(ns, [r["distinct"] for _, r in pts], **kw)
            ulp = [(n, r["max_ulp"]) for n, r in pts if r["max_ulp"] is not None]
            ax_u.plot([p[0] for p in ulp], [p[1] for p in ulp], **kw)
            all_n += ns
            all_d += [r["distinct"] for _, r in pts]
            all_u += [p[1] for p in ulp]
        for ax in (ax_d, ax_u):
            pow2_axis(ax, all_n)
            ax.set_xlabel("n (" + "/".join(DTYPE_NAMES.get(d, d) for d in dtypes) + " elements)")
        if runs and max(all_d) >= max(runs) * 0.5:
            ax_d.axhline(max(runs), color="0.5", linestyle=(0, (1, 2)), linewidth=1.2, zorder=0,
                         label=f"every run different ({max(runs)} runs)" if len(runs) == 1 else "_nolegend_")
        if spans_decades(all_d):
            log_y(ax_d, all_d + list(runs))
        ax_d.set_ylim(bottom=0.8 if spans_decades(all_d) else 0)
        run_txt = f"of {runs[0]} runs" if len(runs) == 1 else "over the runs"
        ax_d.set_ylabel(f"distinct outputs ({run_txt}, count)")
        ax_d.set_title(f"{be}: {labels.device(be)}\ndistinct bit patterns")
        symlog_y(ax_u, all_u)
        ax_u.set_ylabel("max ULP distance between runs (ULP)")
        ax_u.set_title(f"{be}: {labels.device(be)}\nlargest spread between any two runs")
    extra = []
    if len(dists) > 1:
        extra = [Line2D([], [], color="0.35", linestyle=dstyle[d], label=f"line style: {d} input") for d in dists]
    legend_below(fig, [a for row in axes for a in row], ncol=4 if len(dists) <= 2 else 5,
                 title_text="colour = variant" + (", line style = input distribution" if len(dists) > 1 else ""),
                 extra_handles=extra)
    devs = [labels.device(b) for b in backends]
    t = title(fig, "Drift against n: how many different results, and how far apart (atomic variants; tree and exact for contrast)",
              labels.stamp(devs), f"{run_txt.replace('of ', '')} per point; symlog ULP axis (0 is drawn)")
    save(fig, plt, out, "drift_vs_n", t, drawn)


def fig_ulp_histogram(plt, data, labels: Labels, out: Path, drawn: list):
    h = data["ulp_hist.json"]
    variants = {v: [x for x in xs if x is not None] for v, xs in h["variants"].items()}
    variants = {v: xs for v, xs in variants.items() if xs}
    if not variants:
        return "ulp_hist.json has no runs"
    names = sorted(variants, key=lambda v: (["atomic", "atomic_element"].index(v)
                                            if v in ("atomic", "atomic_element") else 2, v))
    fig, axes = grid_axes(plt, 1, len(names), panel_w=6.2, panel_h=4.2, extra_h=1.6)
    for ax, v in zip(axes[0], names):
        xs = variants[v]
        lo, hi = min(xs), max(xs)
        width = nice_width((hi - lo + 1) / 30)
        first = (lo // width) * width  # bins [k*w, (k+1)*w - 1], edges half-way between integers
        edges = [first - 0.5 + width * i for i in range((hi - first) // width + 2)]
        ax.hist(xs, bins=edges, color=COLOURS.get(v, "C0"), edgecolor="white", linewidth=0.5,
                label=f"{v}: {len(xs)} runs")
        ax.axvline(0, color="black", linestyle="--", linewidth=1.2, label="0 ULP = the exact sum")
        ax.set_xlim(min(edges[0], -0.5) - width, max(edges[-1], 0.5) + width)
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(nbins=9, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("signed distance from the exact sum (ULP, result − exact)")
        ax.set_ylabel(f"runs per {width}-ULP bin (count)" if width > 1 else "runs per ULP value (count)")
        distinct = len(set(xs))
        dropped = len(h["variants"][v]) - len(xs)
        unordered = f" (+{dropped} NaN, not shown)" if dropped else ""
        ax.set_title(f"{v}: {len(xs)} runs{unordered}, {distinct} distinct, range [{lo}, {hi}] ULP,\n"
                     f"median {statistics.median(xs):g} ULP, bin width {width} ULP")
    dtype = DTYPE_NAMES.get(h["dtype"], h["dtype"] or "?")
    n = h["n"]
    n_txt = f"n = {n:,}" + (f" ($2^{{{int(math.log2(n))}}}$)" if n and n & (n - 1) == 0 else "") if n else "n = ?"
    runs = h["runs"] or max(len(xs) for xs in variants.values())
    main = f"Atomic sums against the exact sum: {runs} runs, {n_txt}, {dtype}, {h['dist'] or '?'} input"
    dev = h["device"] or labels.device(h["backend"] or "cpu")
    sched = "schedule: " + h["schedule"] if h["schedule"] else None
    t = title(fig, main, labels.stamp([dev]), sched)
    legend_below(fig, axes[0], ncol=4, sort=False)
    save(fig, plt, out, "ulp_histogram", t, drawn)


def fig_dense_gflops(plt, data, labels: Labels, out: Path, drawn: list):
    bench = data["bench.json"][0]
    dense = {k: v for k, v in bench.items() if k[0] == "dense" and good(v["flops"])}
    if not dense:
        return "bench.json has no dense/<backend>/<variant>/B:<b>/K:<k>/N:<n> entries"
    backends = sorted({k[1] for k in dense}, key=backend_key)
    shapes = sorted({(k[4], k[5]) for k in dense}, key=lambda s: (s[0] * s[1], s))
    panels = [(be, s) for be in backends for s in shapes if any(k[1] == be and (k[4], k[5]) == s for k in dense)]
    ncols = max(sum(1 for p in panels if p[0] == be) for be in backends)
    fig, axes = grid_axes(plt, len(backends), ncols, panel_w=5.4, panel_h=4.0)
    for row, be in zip(axes, backends):
        mine = [s for b, s in panels if b == be]
        for ax in row[len(mine):]:
            ax.set_visible(False)
        for ax, (K, N) in zip(row, mine):
            series: dict = {}
            for (_, b, variant, B, k, n), v in dense.items():
                if b == be and (k, n) == (K, N):
                    series.setdefault(variant, []).append((B, v["flops"] / 1e9))
            all_b, all_y = [], []
            for variant in sorted(series, key=order_key):
                pts = sorted(series[variant])
                all_b += [p[0] for p in pts]
                all_y += [p[1] for p in pts]
                if variant in ("openblas", "cublas"):
                    lab = "openblas sgemm (cpu baseline)" if variant == "openblas" else "cublasSgemm FP32 (cuda baseline)"
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="--", label=lab,
                            **style_of(variant))
                else:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], label=variant, **style_of(variant))
            pow2_axis(ax, all_b)
            log_y(ax, all_y)
            ax.set_xlabel("batch size B (rows of x)")
            ax.set_ylabel("GFLOP/s (10$^9$ FLOP/s, 2·B·K·N per call)")
            ax.set_title(f"{be}, K × N = {K} × {N}\n{labels.device(be)}")
    has_baseline = any(k[2] in ("openblas", "cublas") for k in dense)
    t = title(fig, "Dense layer y = act(xW + b): median GFLOP/s against batch size",
              labels.stamp(labels.device(b) for b in backends),
              "vendor baselines dashed" if has_baseline else "no vendor baseline in bench.json")
    legend_below(fig, [a for row in axes for a in row], ncol=5)
    save(fig, plt, out, "dense_gflops", t, drawn)


def fig_batch_invariance(plt, data, labels: Labels, out: Path, drawn: list):
    b = data["batch_invariance.json"]
    if not b["sizes"] or not b["variants"]:
        return "batch_invariance.json has no sizes or no variants"
    sizes = b["sizes"]
    fig, axes = grid_axes(plt, 1, 1, panel_w=8.5, panel_h=4.8, extra_h=1.2)
    ax = axes[0][0]
    all_y = []
    names = sorted(b["variants"], key=order_key)
    # invariant last and hollow, so that it stays visible when it lies on 0 with others
    names = [v for v in names if v != "invariant"] + [v for v in names if v == "invariant"]
    # Equal values (0 ULP, most often) would hide one another: each variant's points are nudged
    # sideways by a small fraction of a doubling, the same for every batch size.
    dodge = {v: 2 ** (0.07 * (i - (len(names) - 1) / 2)) for i, v in enumerate(names)}
    for v in names:
        pts = [(s * dodge[v], y) for s, y in zip(sizes, b["variants"][v]) if y is not None]
        ys = [p[1] for p in pts]
        all_y += ys
        kw = style_of(v, label=v)
        if v == "cublas":
            kw.update(linestyle="--", label="cublas (vendor baseline)")
        if v == "invariant":
            kw.update(markerfacecolor="none", markersize=10, markeredgewidth=1.8, linewidth=2.6, zorder=5)
        ax.plot([p[0] for p in pts], ys, **kw)
    pow2_axis(ax, sizes, max_ticks=13)
    symlog_y(ax, all_y)
    ax.set_xlabel("batch size (rows; row 0 is the same input in every batch; variants nudged apart sideways)")
    ax.set_ylabel("max ULP distance of row 0 from its batch-1 output (ULP)")
    inv = b["variants"].get("invariant")
    sub = None
    if inv is not None:
        vals = [y for y in inv if y is not None]
        if vals and all(y == 0 for y in vals):
            sub = "invariant stays at 0 ULP at every batch size: row 0's bits do not depend on its batch"
        elif vals:
            sub = f"note: invariant reaches {max(vals)} ULP -- it is expected to stay at 0"
    model = f", model {b['model']}" if b["model"] else ""
    dev = b["device"] or labels.device(b["backend"] or "cpu")
    t = title(fig, f"Batch invariance: row 0's output inside batches of many sizes{model}",
              labels.stamp([dev]), sub)
    legend_below(fig, [ax], ncol=5)
    save(fig, plt, out, "batch_invariance", t, drawn)


def fig_bf16_rounding(plt, data, labels: Labels, out: Path, drawn: list):
    """The same runs of a bf16 model, before and after the final rounding to bf16 (issue 11):
    distinct outputs, elements that differ from run 0, rows whose argmax changed."""
    rows = sorted(data["predict_bf16.json"], key=lambda r: order_key(r["variant"]))
    panels = [("distinct", "distinct outputs over the runs"), ("frac", "fraction of elements ≠ run 0"),
              ("argmax", "rows whose argmax changed")]
    fig, axes = grid_axes(plt, 1, len(panels), panel_w=4.2, panel_h=4.0, extra_h=1.6)
    names = [r["variant"] for r in rows]
    width = 0.38
    for ax, (k, ylabel) in zip(axes[0], panels):
        before = [r["before"][k] for r in rows]
        after = [r["after"][k] for r in rows]
        xs = range(len(rows))
        b1 = ax.bar([x - width / 2 for x in xs], before, width, color="#9e9e9e", label="float32, before rounding")
        b2 = ax.bar([x + width / 2 for x in xs], after, width, color="#1f77b4", label=f"{rows[0]['dtype']}, stored output")
        for bars in (b1, b2):
            ax.bar_label(bars, labels=[number_label(v) if k != "frac" else f"{v:.2g}" for v in bars.datavalues],
                         fontsize=7, padding=2)
        ax.set_xticks(list(xs), names)
        ax.set_ylabel(ylabel)
        top = max(before + after)
        ax.set_ylim(0, (top if top > 0 else (1 if k != "frac" else 0.01)) * 1.18)  # all zero: an axis from 0 up
        ax.grid(True, axis="y", alpha=0.3)
    r0 = rows[0]
    dev = r0["device"] or labels.device(r0["backend"])
    ulps = ", ".join(f"{r['variant']} {r['before']['max_ulp']} f32 ULP → {r['after']['max_ulp']} {r['dtype']} ULP"
                     for r in rows)
    t = title(fig, f"What rounding the output to {r0['dtype']} does to drift: model {r0['model']}, batch {r0['batch']}, "
                   f"{r0['runs']} runs, split-K {r0['slices']}", labels.stamp([dev]), "max ULP: " + ulps)
    legend_below(fig, [axes[0][0]], ncol=2, sort=False)
    save(fig, plt, out, "bf16_rounding", t, drawn)


def count_bars(plt, rows, names, panels, styles):
    """One bar panel per (key, ylabel) in panels: each row's whole-number count under its name,
    coloured by styles; the figure of the all-reduce and TP figures."""
    fig, axes = grid_axes(plt, 1, len(panels), panel_w=4.6, panel_h=4.0, extra_h=1.4)
    xs = list(range(len(rows)))
    for ax, (k, ylabel) in zip(axes[0], panels):
        vals = [r[k] for r in rows]
        bars = ax.bar(xs, vals, 0.6, color=[styles.get(v, ("#7f7f7f", ""))[0] for v in names])
        ax.bar_label(bars, labels=[number_label(v) for v in vals], fontsize=9, padding=2)
        ax.set_xticks(xs, names)
        ax.set_ylabel(ylabel)
        top = max(vals)
        ax.set_ylim(0, (top if top > 0 else 1) * 1.18)
        ax.yaxis.get_major_locator().set_params(integer=True)  # counts and ULPs: whole numbers
        ax.grid(True, axis="y", alpha=0.3)
    return fig


def fig_allreduce_ranks(plt, data, labels: Labels, out: Path, drawn: list):
    """The same gradient shards all-reduced over several rank counts: per variant, the distinct
    results across the rank counts and the largest ULP distance of one element between two."""
    order = {v: i for i, v in enumerate(ALLREDUCE_ORDER)}
    rows = sorted(data["allreduce.json"], key=lambda r: (order.get(r["variant"], len(order)), r["variant"]))
    panels = [("ranks_distinct", "distinct results across rank counts"),
              ("ranks_max_ulp", "max ULP between two rank counts")]
    fig = count_bars(plt, rows, [r["variant"] for r in rows], panels, ALLREDUCE_STYLES)
    r0 = rows[0]
    how = "on Open MPI (one mpirun per rank count)" if r0["mode"] == "mpi" else "simulated in one process"
    ranks = ", ".join(str(p) for p in r0["ranks"])
    exact = [r for r in rows if r["variant"] == "exact"]
    sub = None
    if exact and exact[0]["ranks_distinct"] == 1:
        sub = "exact: one result at every rank count, the exact sum of each element's shard values rounded once"
    elif exact:
        sub = f"note: exact gave {exact[0]['ranks_distinct']} results -- it is expected to give 1"
    t = title(fig, f"The number of ranks changes the bits: {r0['shards']} shards of {r0['n']} {r0['dist']} floats "
                   f"all-reduced over {ranks} ranks, {how}", labels.stamp([labels.device("cpu")]), sub)
    save(fig, plt, out, "allreduce_ranks", t, drawn)


def fig_tp_ranks(plt, data, labels: Labels, out: Path, drawn: list):
    """predict with every dense layer's K split over several TP sizes: per tp-variant, the distinct
    outputs across the TP sizes and the largest ULP distance of one element between two."""
    order = {v: i for i, v in enumerate(TP_ORDER)}
    rows = sorted(data["tp.json"], key=lambda r: (order.get(r["tp_variant"], len(order)), r["tp_variant"]))
    panels = [("tp_distinct", "distinct outputs across TP sizes"),
              ("tp_max_ulp", "max ULP between two TP sizes")]
    fig = count_bars(plt, rows, [r["tp_variant"] for r in rows], panels, TP_STYLES)
    r0 = rows[0]
    how = "on Open MPI (one mpirun per TP size)" if r0["mode"] == "mpi" else "simulated in one process"
    sizes = ", ".join(str(p) for p in r0["tp"])
    inv = [r for r in rows if r["tp_variant"] == "invariant"]
    sub = None
    if inv and inv[0]["tp_distinct"] == 1:
        sub = "invariant: one output at every TP size (K cut into fixed chunks whatever the TP size, combined exactly)"
    elif inv:
        sub = f"note: invariant gave {inv[0]['tp_distinct']} outputs -- it is expected to give 1"
    t = title(fig, f"Splitting a layer over more GPUs changes predict's output: model {r0['model']}, batch {r0['batch']}, "
                   f"K split over {sizes} ranks, {how}", labels.stamp([labels.device("cpu")]), sub)
    save(fig, plt, out, "tp_ranks", t, drawn)


FIGURES = [
    ("sum_throughput", "bench.json", fig_sum_throughput),
    ("cost_of_determinism", "bench.json", fig_cost_of_determinism),
    ("drift_vs_n", "sum_drift.json", fig_drift_vs_n),
    ("ulp_histogram", "ulp_hist.json", fig_ulp_histogram),
    ("dense_gflops", "bench.json", fig_dense_gflops),
    ("batch_invariance", "batch_invariance.json", fig_batch_invariance),
    ("bf16_rounding", "predict_bf16.json", fig_bf16_rounding),
    ("allreduce_ranks", "allreduce.json", fig_allreduce_ranks),
    ("tp_ranks", "tp.json", fig_tp_ranks),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("--in", dest="indir", required=True, type=Path, help="folder with the report's JSON files")
    ap.add_argument("--out", dest="outdir", required=True, type=Path, help="folder for the figures (created)")
    args = ap.parse_args(argv)
    if not args.indir.is_dir():
        note(f"error: --in {args.indir}: no such folder")
        return 1
    try:
        data = load_all(args.indir)
    except Malformed as e:
        note(f"error: malformed report file: {e}")
        return 1
    if all(data[f] is None for f in FILES):
        note(f"error: nothing to draw: none of {', '.join(FILES)} is in {args.indir}")
        return 1
    if data["machine.json"] is None:
        note("no machine.json: device and date taken from the other files")
    missing = {}
    for name, f, _ in FIGURES:
        if data[f] is None:
            missing.setdefault(f, []).append(name)
    for f, names in missing.items():
        note(f"no {f} in {args.indir}: skipping {', '.join(names)}")
    try:
        plt = setup_matplotlib()
    except ImportError as e:
        note(f"error: matplotlib is not available to {sys.executable} ({e}); use the project's "
             "virtualenv: python3 -m venv .venv && .venv/bin/pip install matplotlib==3.9.2")
        return 1
    labels = Labels(data)
    try:
        args.outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        note(f"error: --out {args.outdir}: {e}")
        return 1
    drawn: list = []
    for name, f, draw in FIGURES:
        if data[f] is None:
            continue
        why = draw(plt, data, labels, args.outdir, drawn)
        if why:
            note(f"{why}: skipping {name}")
    if not drawn:
        note(f"error: no figure could be drawn from {args.indir}")
        return 1
    (args.outdir / "figures.json").write_text(json.dumps(drawn, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{PROG}: {len(drawn)} figure(s) in {args.outdir}: {', '.join(d['name'] for d in drawn)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
