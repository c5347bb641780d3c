#!/usr/bin/env bash
# Session 23 hostile sweep (docs/bad-input-session23.md): AVX-512's wide float tiles take the span
# first off Intel and the split lanes only where the span does not cover them
# (kernels/cpu/exact_simd.cpp: exact_split_lanes_first, windows_tile_avx512<W, S, kSplitLanes>),
# tried through the command line as a hostile user would.
# First `driftlab sum --variant exact` on generated wide inputs at DRIFTLAB_ISA=avx512, avx2 and
# scalar, 1 and 2 threads: the same bits everywhere.  Then float32 .npy files on the new choice's
# edges (tiles inside the span, past it, past the split lanes too, a sample that lies about its
# tile, tiles of both kinds in one input, unpaired small and mid terms whose lo and hi parts show,
# specials and subnormals in wide tiles), each against an independent oracle (tests/kat/make_kat.py's
# exact_sum: Python fractions, rounded once).  Then bad inputs near the exact sum: one stderr line,
# the documented exit status, an existing --json unchanged.
# Not in CI (ExactSum.FlagCheckedLanesKeepRedoAndFlushEachBlock holds the essentials); run after a
# build in ./build (needs numpy):
#   tests/hostile_sweep_session23.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

grep -m1 vendor_id /proc/cpuinfo | sed 's/^/cpu: /'

# --- generated inputs: the same bits at every level and thread count
sum_case "exact f32 illcond n=2^24+17 (wide tiles: the span first here)" exact --n 16777233 --dist illcond
sum_case "exact f32 illcond n=2^26+1 (from memory)" exact --n 67108865 --dist illcond
sum_case "exact f32 illcond n=65537 (one tile and one term)" exact --n 65537 --dist illcond
sum_case "exact f32 normal n=2^22+3 (one-window tiles: unchanged)" exact --n 4194307 --dist normal

make() { make_exact "$1" "$2" "${3:-f32}" 23; }
exact() { exact_sum_case "$1" "$2" "${3:-f32}"; }
N='2 * T * 3'
span() { echo "sig($N) * np.exp2(rng.integers($1, $2, $N))"; }  # significand 2^23..2^24 times 2^[a, b)
SMALL='sig(1)[0] * 2.0**rng.integers(-58, -39)'   # 2^-35 .. 2^-17: lo parts only
MID='sig(1)[0] * 2.0**rng.integers(-37, -17)'     # 2^-14 .. 2^5: hi and lo parts
sprinkle() { echo "(lambda x: [put(x, a, $2) for a in range(5, x.size, 37)] and x)($1)"; }

# --- float32 wide tiles: which path takes them, and whether each part of a term shows
make in40 "$(sprinkle "paired($(span -44 -4))" "$SMALL")"
exact in40 "40 binades (inside the span), small unpaired terms: lo parts show"
make in40m "$(sprinkle "paired($(span -44 -4))" "$MID")"
exact in40m "40 binades, mid unpaired terms: hi parts show"
make past58 "$(sprinkle "paired($(span -56 2))" "$SMALL")"
exact past58 "58 binades (past the span, inside the split lanes), small unpaired"
make past58m "$(sprinkle "paired($(span -56 2))" "$MID")"
exact past58m "58 binades, mid unpaired"
make at54 "$(sprinkle "paired($(span -50 4))" "$SMALL")"
exact at54 "54 binades (the span's own width), small unpaired"
make at55 "$(sprinkle "paired($(span -51 4))" "$SMALL")"
exact at55 "55 binades (one past the span's width)"
make past70 "$(sprinkle "paired($(span -70 0))" "$SMALL")"
exact past70 "70 binades (past the split lanes' 62 too: the windows or the scalar path)"
make top "paired($(span 60 100))"
exact top "wide tiles near 2^123 (outside the split lanes' range: their blocks redone)"
make lie "(lambda x: [x.__setitem__(slice(t, t + 512), np.float32(0.75)) for t in range(0, x.size, T)] and x)(np.float32($(span -56 2)))"
exact lie "each tile's first 512 terms one binade, the rest 58 (the sample lies)" f32
make lie2 "np.concatenate([np.float32($(span -56 2))[:512], np.float32(sig(2 * T * 3 - 512) * 2.0**-24)])"
exact lie2 "the first tile's sample 58 binades, the rest one window"
make mixed "np.concatenate([paired($(span -44 -4))[:T], paired($(span -56 2))[:T], paired($(span -24 -23))[:T]]) + np.float32(0)"
exact mixed "three tiles: inside the span, past it, one window"
make mixed2 "$(sprinkle "np.concatenate([paired($(span -44 -4))[:T], paired($(span -56 2))[:T], paired($(span -24 -23))[:T]])" "$SMALL")"
exact mixed2 "the same three tiles, small unpaired terms"
make wsub "(lambda x: [put(x, a, np.float32(np.ldexp(1.0, -149)) * (a % 5)) for a in range(7, x.size, 4099)] and x)(paired($(span -44 -4)))"
exact wsub "subnormals among wide terms (the span's per-term path)"
make winf "(lambda x: put(x, T + 2 * Q + 77, np.inf) is None or x)(paired($(span -56 2)))"
exact winf "+Inf in a tile past the span"
make wnan "(lambda x: (put(x, 10, np.inf), put(x, 2 * T + 3, -np.inf)) and x)(paired($(span -44 -4)))"
exact wnan "+Inf and -Inf in wide tiles (NaN)"
make wmax "(lambda x: (put(x, 100, np.float32(3.4e38)), put(x, T + 100, np.float32(-3.4e38)), put(x, 2 * T + 9, np.float32(2.0**-100))) and x)(paired($(span -44 -4)))"
exact wmax "FLT_MAX and its negation in wide tiles, and 2^-100"
make wtail "$(sprinkle "np.concatenate([paired($(span -56 2)), np.float32(sig(4097) * 2.0**rng.integers(-56, 2, 4097))])" "$SMALL")"
exact wtail "3 tiles past the span and a tail of 4097 wide terms"

# --- bad inputs near the exact sum: one line, exit 2 (command line) or 1 (a file or a signal)
echo '{"mine": 1}' > keep.json
want 2 1 "sum --variant exact --dist Illcond (names are lower case)" -- "$DL" sum --backend cpu --variant exact --dist Illcond --n 100 --json keep.json
same "keep.json unchanged after a refused run" keep.json '{"mine": 1}'
want 2 1 "sum --variant exact --dist illcond --n 0x10" -- "$DL" sum --backend cpu --variant exact --dist illcond --n 0x10
want 2 1 "sum --variant exact --n -5" -- "$DL" sum --backend cpu --variant exact --n -5
want 2 1 "sum --variant exact --n 2^26 --runs 0" -- "$DL" sum --backend cpu --variant exact --n 2^26 --runs 0
want 2 1 "sum --variant exact --json (no path)" -- "$DL" sum --backend cpu --variant exact --n 100 --json
want 1 1 "sum --variant exact --json into a missing folder" -- "$DL" sum --backend cpu --variant exact --n 100 --json no/such/dir/r.json
want 1 1 "sum --variant exact --json a folder" -- "$DL" sum --backend cpu --variant exact --n 100 --json .
"$PY" - <<'PY'
import numpy as np
x = np.float32(np.random.default_rng(1).standard_normal(1000))
np.save("be.npy", x.astype(">f4"))
np.save("fortran.npy", np.asfortranarray(np.ones((40, 25), dtype=np.float32)))
np.save("empty.npy", np.zeros(0, dtype=np.float32))
raw = open("in40.npy", "rb").read()
open("trunc.npy", "wb").write(raw[: len(raw) // 2])
open("hdr.npy", "wb").write(b"\x93NUMPY\x01\x00\xff\xff" + b" " * 100)
PY
want 0 0 "sum --variant exact --input a big-endian float32 .npy (read)" -- "$DL" sum --backend cpu --variant exact --input be.npy
has "its sum is that of the values, not of their swapped bytes" out.txt "$("$PY" -c "
import numpy as np, sys
sys.path.insert(0, '$ROOT/tests/kat'); import make_kat as K
x = np.load('be.npy').astype('<f4'); v = K.exact_sum([float(u) for u in x], K.F32)
print('0x%08x' % np.float32(v).view(np.uint32))")"
want 2 1 "sum --variant exact --input a Fortran-order 2-D .npy (the command line decides the shape: 2)" -- "$DL" sum --backend cpu --variant exact --input fortran.npy
want 0 0 "sum --variant exact --input an empty .npy (the sum of nothing: +0)" -- "$DL" sum --backend cpu --variant exact --input empty.npy --json empty.json
"$PY" -c "import json; r = json.load(open('empty.json'))['rows'][0]; assert r['result_bits'] == '0x00000000', r" && { pass=$((pass + 1)); echo "ok   the empty sum is +0 (result_bits 0x00000000)"; } || { fail=$((fail + 1)); echo "FAIL the empty sum is not +0"; }
want 1 1 "sum --variant exact --input a .npy cut in half" -- "$DL" sum --backend cpu --variant exact --input trunc.npy
want 1 1 "sum --variant exact --input a header length past the file" -- "$DL" sum --backend cpu --variant exact --input hdr.npy
# (timeout sends it: a background job of a non-interactive shell starts with SIGINT ignored, and
# driftlab keeps a signal ignored that it inherited ignored, as nohup's users expect.)
want 1 1 "sum --variant exact: SIGINT in the middle of 5000 runs (wide tiles)" -- timeout --preserve-status -s INT 4 "$DL" sum --backend cpu --variant exact --dist illcond --n 2^26 --runs 5000
DRIFTLAB_ISA=avx512f want 2 1 "DRIFTLAB_ISA=avx512f (not a level name)" -- "$DL" sum --backend cpu --variant exact --n 100

echo "session 23 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
