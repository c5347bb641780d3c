#!/usr/bin/env python3
"""The attention figure: sequence 0's ULP distance from its output at the sweep's first point (batch 1
by default) against the batch size,
per variant (left), and against the other sequences' KV length (right).

Reads one or more `driftlab attention --json` files (rows with a `sweep`); writes
OUT/attention_batch.png and .svg.  Usage: plot_attention.py OUT FILE.json [FILE.json ...]
"""
import json
import sys
from pathlib import Path


def fail(msg: str) -> None:
    print(f"plot_attention: {msg}", file=sys.stderr)
    sys.exit(1)


def load(path: Path):
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    if not isinstance(doc, dict) or doc.get("command") != "attention" or not isinstance(doc.get("rows"), list):
        fail(f"{path}: not the JSON of `driftlab attention`")
    rows = [r for r in doc["rows"] if isinstance(r, dict) and isinstance(r.get("sweep"), list) and r["sweep"]]
    if not rows:
        fail(f"{path}: no rows with a batch sweep (run without --batch-sweep off)")
    return rows


def attention_styles():
    """The attention table's legend order and (colour, marker) per variant, from variants.json beside
    this file (`driftlab variants --json`)."""
    try:
        rows = json.loads((Path(__file__).resolve().parent / "variants.json").read_text())["attention"]
        ordered = sorted((r for r in rows if r["plot_order"] is not None), key=lambda r: r["plot_order"])
        return [r["name"] for r in ordered], {r["name"]: (r["colour"], r["marker"] or ".") for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail(f"variants.json beside plot_attention.py cannot be read ({e})")


ORDER, STYLE = attention_styles()


def main(argv) -> int:
    if len(argv) < 3:
        fail("usage: plot_attention.py OUT FILE.json [FILE.json ...]")
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for p in argv[2:] for r in load(Path(p))]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for r in sorted(rows, key=lambda r: (r["backend"], ORDER.index(r["variant"]) if r["variant"] in ORDER else 9)):
        l0 = int(str(r["kv_lens"]).split(",")[0])
        color, marker = STYLE.get(r["variant"], ("black", "."))
        label = f'{r["variant"]} ({r["backend"]})'
        ls = "-" if r["backend"] == "cpu" else "--"
        by_batch = [(p["batch"], p["ulp_vs_first"]) for p in r["sweep"] if p["other_kv_len"] == l0]
        by_other = [(p["other_kv_len"], p["ulp_vs_first"]) for p in r["sweep"]
                    if p["batch"] == r["batch"] and p["ulp_vs_first"] is not None]
        if by_batch:
            xs, ys = zip(*by_batch)
            left.plot(xs, ys, ls, color=color, marker=marker, label=label)
        if by_other:
            xs, ys = zip(*sorted(set(by_other)))
            right.plot(xs, ys, ls, color=color, marker=marker, label=label)
    r0 = rows[0]
    l0 = str(r0["kv_lens"]).split(",")[0]
    left.set_xscale("log", base=2)
    left.set_xlabel("batch size (every sequence KV %s)" % l0)
    right.set_xscale("log", base=2)
    right.set_xlabel("KV length of the other sequences (batch %d)" % r0["batch"])
    for ax in (left, right):
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylabel("max ULP of sequence 0 vs the first point")
        ax.set_ylim(bottom=-0.2)  # 0 ULP (the same bits) sits on the axis
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, frameon=False)
    devices = sorted({f'{r["backend"]}: {r["device"]}' for r in rows})
    fig.suptitle("Attention decode: the batch you are served in changes your output (split_count), or not\n"
                 f'H={r0["heads"]}, d={r0["head_dim"]}, float32; ' + "; ".join(devices), fontsize=11)
    for ext in ("png", "svg"):
        fig.savefig(out / f"attention_batch.{ext}", bbox_inches="tight", pad_inches=0.15,
                    metadata={"Software": None} if ext == "png" else {"Date": None, "Creator": None})
    print(out / "attention_batch.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
