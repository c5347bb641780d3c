#!/usr/bin/env python3
"""ctest Bench.CudaErrorSkipsTheBenchmark: bench/cuda_error_probe's CUDA error (thrown inside the
timed loop) is reported as the benchmark's error, the next benchmark still runs, the process
exits 0 and its JSON is complete.  usage: check_cuda_error_skip.py PROBE"""
import json
import subprocess
import sys

r = subprocess.run([sys.argv[1], "--benchmark_format=json", "--benchmark_min_time=0.01"],
                   capture_output=True, text=True, timeout=120)
problems = []
if r.returncode != 0:
    problems.append(f"exit status {r.returncode} (a terminate?): {r.stderr[-500:]}")
try:
    entries = {e["name"]: e for e in json.loads(r.stdout)["benchmarks"]}
except (ValueError, KeyError) as e:
    entries = {}
    problems.append(f"no complete JSON on stdout ({e})")
err = entries.get("probe/cuda_error", {})
if not err.get("error_occurred") or "CUDA error" not in err.get("error_message", ""):
    problems.append(f"probe/cuda_error not reported as a CUDA error: {err}")
after = entries.get("probe/after", {})
if not after or after.get("error_occurred") or not after.get("iterations"):
    problems.append(f"probe/after did not run after the error: {after}")
for p in problems:
    print("FAIL", p)
if not problems:
    print("PASS the CUDA error became the benchmark's error:", err["error_message"])
sys.exit(1 if problems else 0)
