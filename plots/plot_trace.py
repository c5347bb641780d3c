#!/usr/bin/env python3
"""The trace figure: where the bits start to move.  Max ULP distance between the two sides of a
`driftlab trace` comparison at every layer and stage (matmul, bias_act, dropout, round), one line per
configuration (one trace JSON each); the first divergence of each is circled.

Usage: plot_trace.py OUT FILE.json [FILE.json ...]; writes OUT/trace_ulp.png and .svg.
"""
import json
import sys
from pathlib import Path

STAGES = ["matmul", "bias_act", "dropout", "round"]


def fail(msg: str) -> None:
    print(f"plot_trace: {msg}", file=sys.stderr)
    sys.exit(1)


def load(path: Path):
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    if not isinstance(doc, dict) or doc.get("command") != "trace" or not isinstance(doc.get("rows"), list):
        fail(f"{path}: not the JSON of `driftlab trace`")
    if not doc["rows"]:
        fail(f"{path}: no rows")
    return doc


def key(row):
    return (row["layer"], STAGES.index(row["stage"]) if row["stage"] in STAGES else len(STAGES))


def main(argv) -> int:
    if len(argv) < 3:
        fail("usage: plot_trace.py OUT FILE.json [FILE.json ...]")
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    docs = [load(Path(p)) for p in argv[2:]]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One x position per (layer, stage) seen in any file, in the order of the forward pass.
    points = sorted({key(r) for d in docs for r in d["rows"]})
    names = {key(r): f'L{r["layer"]} {r["stage"]}' for d in docs for r in d["rows"]}
    xpos = {k: i for i, k in enumerate(points)}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(points) + 2), 4.8), layout="constrained")
    for i, d in enumerate(docs):
        rows = sorted(d["rows"], key=key)
        # max_ulp null: a NaN against a number -- drawn at the top of the axis.
        ys = [r["max_ulp"] if r["max_ulp"] is not None else float("nan") for r in rows]
        xs = [xpos[key(r)] for r in rows]
        label = f'{d["compare"]}, {d["variant"]} ({d["a"]["backend"]})'
        line, = ax.plot(xs, ys, "-o", label=label, zorder=3, alpha=0.85)
        f = d.get("first_divergence")
        if f:
            k = (f["layer"], STAGES.index(f["stage"]) if f["stage"] in STAGES else len(STAGES))
            y = next(r["max_ulp"] for r in rows if key(r) == k)
            ax.plot([xpos[k]], [y], "o", ms=14, mfc="none", mec=line.get_color(), mew=2, zorder=4)
    ax.set_xticks(range(len(points)), [names[k] for k in points], rotation=30, ha="right")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(bottom=-0.2)  # 0 ULP (the same bits) sits on the axis
    ax.set_ylabel("max ULP distance, side A vs side B")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_ylim(top=max(10.0, ax.get_ylim()[1] * 4))  # room above the circles
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(docs)), fontsize=8, frameon=False)
    models = sorted({d["model"] for d in docs})
    ax.set_title("driftlab trace: max ULP per layer and stage (circled: the first bits that differ)\nmodel "
                 + ", ".join(models), fontsize=10)
    for ext in ("png", "svg"):
        fig.savefig(out / f"trace_ulp.{ext}", bbox_inches="tight", pad_inches=0.15,
                    metadata={"Software": None} if ext == "png" else {"Date": None, "Creator": None})
    print(out / "trace_ulp.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
