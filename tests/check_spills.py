#!/usr/bin/env python3
"""Compiles a CUDA source for one architecture with ptxas's resource report and fails when any
kernel spills registers to local memory (a spill in a streaming kernel costs bandwidth the
benchmarks would then blame on the variant).

    python3 tests/check_spills.py NVCC SOURCE.cu INCLUDE_DIR [ARCH]   (ARCH default sm_90)

Prints each kernel's registers and spill bytes; exit 1 on a spill or a failed compile."""
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    nvcc, source, include = argv[1], argv[2], argv[3]
    arch = argv[4] if len(argv) > 4 else "sm_90"
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([nvcc, "-std=c++17", "--fmad=false", "-O3", f"-arch={arch}", "-Xptxas", "-v",
                            "-I", include, "-c", source, "-o", str(Path(tmp) / "k.o")],
                           capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr[-4000:])
        print(f"check_spills: nvcc failed on {source}")
        return 1
    kernels, current = [], None
    for line in r.stderr.splitlines():
        m = re.search(r"Compiling entry function '([^']+)' for '(\w+)'", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and current:
            kernels.append((current, int(m.group(1)), int(m.group(2))))
            current = None
    if not kernels:
        print(r.stderr[-4000:])
        print("check_spills: no kernel found in ptxas's report")
        return 1
    bad = [k for k in kernels if k[1] or k[2]]
    for name, st, ld in kernels:
        print(f"{'SPILL' if st or ld else 'ok   '} {name}: {st} bytes spill stores, {ld} bytes spill loads")
    print(f"check_spills: {len(kernels)} kernels for {arch}, {len(bad)} spilling")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
