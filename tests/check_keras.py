#!/usr/bin/env python3
"""ctest Keras.CrossCheckEndToEnd: the real TensorFlow/Keras cross-check, small and bounded, then
`driftlab scenarios --keras` on its output.  Exits 77 (ctest: skipped, with the reason printed)
where TensorFlow is not installed; scripts/setup.sh --keras installs it into .venv.

usage: check_keras.py DRIFTLAB_EXE SOURCE_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

exe, src, work = sys.argv[1:4]
try:
    import tensorflow  # noqa: F401
except ImportError:
    print("SKIPPED: the Keras cross-check needs TensorFlow in this Python "
          f"({sys.executable}); scripts/setup.sh --keras installs it")
    sys.exit(77)

sys.path.insert(0, os.path.join(src, "scripts"))
import keras_check  # noqa: E402  (the verdict rules, recomputed below)

os.makedirs(work, exist_ok=True)
out = os.path.join(work, "keras_check_small.json")
subprocess.run([sys.executable, os.path.join(src, "scripts", "keras_check.py"), "--out", out, "--processes", "2",
                "--calls", "2", "--layers", "64,256,256,10"], check=True, timeout=840)
doc = json.load(open(out))
assert doc["tool"] == "keras_check" and doc["tensorflow"] and doc["keras"] and doc["tf_keras"], doc
for s in doc["scenarios"]:  # each verdict is the rule applied to the counts written beside it
    assert keras_check.verdict(s["rule"], s["numbers"])[0] == s["verdict"], s
by_key = {s["key"]: s for s in doc["scenarios"]}
# Facts of Keras 3 that driftlab's model of it rests on (scenarios.h, keras_model_seeds; the
# predict and Conclusion rows): a call as written runs in inference mode, set_random_seed repeats
# across processes, and model.predict takes no training argument.
assert by_key["example1"]["numbers"]["as_written"] == 1, by_key["example1"]
assert by_key["example2_across_keras_seed"]["numbers"]["as_written"] == 1, by_key["example2_across_keras_seed"]
assert by_key["predict_dropout"]["numbers"]["predict_takes_training"] == 0, by_key["predict_dropout"]
assert by_key["restored"]["numbers"]["restored"] == 1, by_key["restored"]

rows_json = os.path.join(work, "scenarios_keras_small.json")
subprocess.run([exe, "scenarios", "--quick", "--backend", "cpu", "--keras", out, "--json", rows_json], check=True,
               stdout=subprocess.DEVNULL, timeout=600)
res = json.load(open(rows_json))
rows, only = res["rows"], res["keras_only"]
# keras_check.py has no counterpart for these: its models have no attention, run in float32, in one process
# (no all-reduce).
no_counterpart = {"attention_batch", "bf16_rounding", "allreduce_ranks", "tp_ranks"}
missing = [r["key"] for r in rows if "keras" not in r and r["key"] not in no_counterpart]
assert not missing, f"driftlab scenarios without a Keras counterpart: {missing}"
assert set(by_key) == {r["key"] for r in rows} - no_counterpart | {r["key"] for r in only}, \
    (sorted(by_key), sorted(r["key"] for r in rows), sorted(r["key"] for r in only))
print(f"Keras cross-check: TensorFlow {doc['tensorflow']}, Keras {doc['keras']}, tf_keras {doc['tf_keras']}, "
      f"{len(rows) - len(no_counterpart)} scenarios side by side, {len(only)} measured in TensorFlow only")
