#!/usr/bin/env python3
"""scripts/gpu_check_summary.py fails loudly: run from ctest (GpuCheck.SummaryFailsLoudly).

Copies tests/fixtures/gpu_check/good (Google Benchmark's real JSON shape, with the
`/manual_time` suffixes) and breaks one thing at a time; the summary must pass the good folder
and exit 1 naming the problem on each broken one.  Prints 'N passed, M failed' last."""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = ROOT / "scripts" / "gpu_check_summary.py"
GOOD = ROOT / "tests" / "fixtures" / "gpu_check" / "good"
passed = failed = 0


def run(folder, *extra):
    r = subprocess.run([sys.executable, str(SUMMARY), str(folder), *extra], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {what}")
    else:
        failed += 1
        print(f"FAIL {what}" + (f"\n{detail[-3000:]}" if detail else ""))


def edit_json(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def slow(name_part, factor):
    def fn(doc):
        for e in doc["benchmarks"]:
            if name_part in e["name"]:
                e["real_time"] *= factor
                for k in ("bytes_per_second", "FLOP/s", "items_per_second"):
                    if k in e:
                        e[k] /= factor
    return fn


def drop(name_part):
    def fn(doc):
        doc["benchmarks"] = [e for e in doc["benchmarks"] if name_part not in e["name"]]
    return fn


def set_row(variant, key, value):
    def fn(doc):
        for r in doc["rows"]:
            if r["variant"] == variant:
                r[key] = value
    return fn


def skip_test(suite, name):
    def fn(doc):
        for s in doc["testsuites"]:
            for t in s["testsuite"]:
                if s["name"] == suite and t["name"] == name:
                    t["result"] = "SKIPPED"
    return fn


def drop_suite(name):
    def fn(doc):
        doc["testsuites"] = [s for s in doc["testsuites"] if s["name"] != name]
    return fn


def cut_stream(d):
    # Google Benchmark's layout: entries indented 4 spaces; cut inside the last entry
    text = json.dumps(json.loads((d / "bench_attention.json").read_text()), indent=2)
    (d / "bench_attention.json").unlink()
    (d / "bench_attention.stream.json").write_text(text[: text.rfind('"real_time"')])


def fail_test(doc):
    doc["testsuites"][0]["testsuite"][0]["failures"] = [{"failure": "test_sum_cuda.cpp:50\nExpected equality", "type": ""}]


BROKEN = [  # (what, change(folder), text the output must hold)
    ("a slow tree (0.5 x cub)", lambda d: edit_json(d / "bench_sum_headline.json", slow("f32/uniform/tree/", 2.0)), "f32 tree / cub"),
    ("a slow exact (0.6 x cub)", lambda d: edit_json(d / "bench_sum_headline.json", slow("f32/uniform/exact/", 1.5)), "f32 exact / cub"),
    ("a missing bench_sum.json", lambda d: (d / "bench_sum.json").unlink(), "bench_sum.json | missing"),
    ("an empty sum_illcond.json", lambda d: (d / "sum_illcond.json").write_text(""), "sum_illcond.json | empty"),
    ("an empty benchmark list", lambda d: edit_json(d / "bench_dense.json", drop("/")), "no benchmarks in it"),
    ("an absent cub baseline", lambda d: edit_json(d / "bench_sum_headline.json", drop("f32/uniform/cub/")), "absent"),
    ("an errored tree benchmark", lambda d: edit_json(d / "bench_sum_headline.json", lambda doc: [e.update(
        {"error_occurred": True, "error_message": "out of memory"}) for e in doc["benchmarks"]
        if "f32/uniform/tree/" in e["name"]]), "out of memory"),
    ("tree with 2 distinct outputs", lambda d: edit_json(d / "sum_f32.json", set_row("tree", "distinct_outputs", 2)), "tree"),
    ("exact with 3 distinct outputs (f64)", lambda d: edit_json(d / "sum_f64_illcond.json", set_row("exact", "distinct_outputs", 3)), "exact"),
    ("drift over 20 runs only", lambda d: edit_json(d / "sum_illcond.json", set_row("atomic", "runs", 20)), "at least 100"),
    ("a slow dense invariant (0.5 x cublas)", lambda d: edit_json(d / "bench_dense_headline.json", slow("invariant/B:4096/", 1.7)), "invariant / cublas"),
    ("a missing dense headline step", lambda d: (d / "bench_dense_headline.json").unlink(), "bench_dense_headline.json | missing"),
    # a step cut by its limit: no JSON file, its stream cut in the middle of an entry; what
    # finished is recovered (the attention ratios still read) and the cut fails
    ("a cut attention step", cut_stream, "the step was cut"),
    ("an errored benchmark no target reads (a CUDA error)", lambda d: edit_json(d / "bench_attention.json", lambda doc: [e.update(
        {"error_occurred": True, "error_message": "CUDA error: an illegal memory access"}) for e in doc["benchmarks"]
        if "attention/cuda/atomic/B:4/" in e["name"]]), "illegal memory access"),
    ("a slow fixed_split at B=64 (0.5 x copy)", lambda d: edit_json(d / "bench_attention.json", slow("fixed_split/B:64/", 1.5)),
     "fixed_split / d2d_copy bandwidth, B:64"),
    ("fixed_split slower than split_count at B=1", lambda d: edit_json(d / "bench_attention.json", slow("fixed_split/B:1/H:32/d:128/L:4096", 1.3)),
     "fixed_split / split_count throughput, B:1/"),
    ("fixed_split moving across batches", lambda d: edit_json(d / "attention.json", set_row("fixed_split", "batch_distinct", 2)),
     "driftlab attention B=4 fixed_split"),
    ("a missing attention.json", lambda d: (d / "attention.json").unlink(), "attention.json | missing"),
    ("a missing drift step", lambda d: (d / "bench_drift.json").unlink(), "bench_drift.json | missing"),
    ("an absent device drift benchmark", lambda d: edit_json(d / "bench_drift.json", drop("drift/cuda/device/")), "absent"),
    ("an absent attention GPU test", lambda d: edit_json(d / "tests" / "tests_0.json", drop_suite("AttentionCuda")), "AttentionCuda"),
    ("a test shard without its result", lambda d: (d / "tests" / "shards.txt").write_text("2\n"), "tests_1.json | missing"),
    ("an absent bf16 cublasGemmEx baseline", lambda d: edit_json(d / "bench_dense.json", drop("cublas/B:4096/K:4096/N:4096/dtype:bf16")), "absent"),
    ("an absent invariant_tc benchmark", lambda d: edit_json(d / "bench_dense.json", drop("invariant_tc/B:4096/")),
     "invariant_tc/B:4096/K:4096/N:4096/dtype:bf16 | absent"),
    ("predict invariant drifting", lambda d: edit_json(d / "predict_default.json", set_row("invariant", "distinct_outputs", 2)), "invariant"),
    ("invariant moving across batch sizes", lambda d: edit_json(d / "predict_wide.json", set_row("invariant", "batch_distinct", 2)), "across batches"),
    ("a skipped GPU test", lambda d: edit_json(d / "tests" / "tests_0.json", skip_test("CudaSum", "TreeAndExactBitwiseEqualToCpuF32")), "skipped"),
    ("a failed test", lambda d: edit_json(d / "tests" / "tests_0.json", fail_test), "failed"),
    ("no test results", lambda d: (d / "tests" / "tests_0.json").unlink(), "missing"),
    # every test that ran has its row: one outside the bitwise list skipped or failed fails too
    ("a skipped drift test", lambda d: edit_json(d / "tests" / "tests_0.json", skip_test("DriftCuda", "AwkwardValuesGiveTheHostMetrics")),
     "DriftCuda.AwkwardValuesGiveTheHostMetrics | skipped"),
    ("a skipped thrust test", lambda d: edit_json(d / "tests" / "tests_0.json", skip_test("CudaSum", "ThrustWithinTheBoundAndItsDriftMeasuredF32")),
     "CudaSum.ThrustWithinTheBoundAndItsDriftMeasuredF32 | skipped"),
    ("a missing known-answer result", lambda d: (d / "tests" / "kat.json").unlink(), "tests/kat.json | missing"),
    ("a skipped CUDA known answer", lambda d: edit_json(d / "tests" / "kat.json", skip_test("KnownAnswersCuda", "SumTreeAndExact")),
     "KnownAnswersCuda.SumTreeAndExact | skipped"),
    ("no CUDA known answer ran", lambda d: edit_json(d / "tests" / "kat.json", drop_suite("KnownAnswersCuda")),
     "KnownAnswersCuda.* (driftlab_kat_tests) ran | 0"),
    ("a failed plot check", lambda d: (d / "tests" / "check_plots.log").write_text("48 passed, 1 failed\n"), "1 failed"),
    ("a report that timed the benchmarks again", lambda d: (d / "report" / "bench.log").write_text("x"), "bench.log present"),
    ("a missing figure", lambda d: (d / "report" / "plots" / "dense_gflops.png").unlink(), "9 of 10"),
    ("a step that timed out", lambda d: (d / "step_errors.txt").write_text("gpu_check: driftlab report exited with status 124\n"), "status 124"),
]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        good = tmp / "good"
        shutil.copytree(GOOD, good)
        rc, text = run(good, "--md", str(tmp / "s.md"), "--json", str(tmp / "s.json"))
        check(rc == 0 and "PASSED" in text, "the good fixture passes", text)
        check((tmp / "s.md").read_text().startswith("# driftlab GPU check (device): PASSED")
              if (tmp / "s.md").exists() else False, "summary.md written")
        doc = json.loads((tmp / "s.json").read_text()) if (tmp / "s.json").exists() else {}
        check(doc.get("passed") is True and len(doc.get("checks", [])) > 40, "summary.json written with every check")
        rc, text = run(good, "--mode", "rehearse")
        check(rc == 1 and "absent" in text, "device results read as a rehearsal miss the CPU benchmarks", text)
        for what, change, needle in BROKEN:
            d = tmp / "broken"
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(GOOD, d)
            change(d)
            rc, text = run(d, "--md", str(tmp / "b.md"))
            fail_rows = [line for line in text.splitlines() if line.rstrip().endswith("| FAIL |")]
            ok = rc == 1 and "FAILED" in text and any(needle in line for line in fail_rows)
            check(ok, f"{what}: exit 1 with a FAIL row holding '{needle}'", text)
            rc, text = run(d, "--only", "bench_sum")
            check(rc == 0, f"{what}: --only prints a section and exits 0", text)
        # the cut step's finished benchmarks still feed the ratios
        d = tmp / "cut"
        shutil.copytree(GOOD, d)
        cut_stream(d)
        rc, text = run(d)
        check(rc == 1 and "fixed_split / d2d_copy bandwidth, B:64/H:32/d:128/L:4096 | 3200.0 GB/s" in text,
              "a cut step: its finished benchmarks are recovered from the stream", text)
        # --merge-bench: every step's entries in one file for driftlab report
        rc, text = run(good, "--merge-bench", str(tmp / "all.json"))
        n = sum(len(json.loads(f.read_text())["benchmarks"]) for f in good.glob("bench_*.json"))
        merged = json.loads((tmp / "all.json").read_text())["benchmarks"] if (tmp / "all.json").exists() else []
        check(rc == 0 and len(merged) == n and n > 0, f"--merge-bench gathers all {n} entries", text)
        rc, text = run(tmp / "no_such_folder")
        check(rc == 1, "a missing folder: exit 1", text)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
