# Shared by the hostile sweeps (tests/hostile_sweep_session*.sh), sourced after they set their paths:
# a scratch folder as the working directory (removed on exit), the pass/fail counts, and
#   want RC LINES DESC -- CMD...   runs CMD (120 s at most), wants exit status RC and, when LINES
#                                  is "1", exactly one stderr line ("any": any number); out.txt and
#                                  err.txt keep what it wrote;
#   same DESC FILE CONTENT         the file still holds CONTENT;
#   has DESC FILE TEXT / hasnt     FILE contains TEXT / does not;
#   exact_sum_case NAME DESC DTYPE
#                                  NAME.npy summed with --variant exact --dtype DTYPE at
#                                  DRIFTLAB_ISA=avx512, avx2 and scalar, 1 and 2 threads: each
#                                  run must exit 0 with the bits in NAME.want (a NaN: any NaN);
#   sum_case DESC VARIANT ARGS...  `$DL sum` at every ISA level and 1-2 threads, the same bits;
#   make_exact NAME EXPR DTYPE SEED
#                                  NAME.npy from a NumPy expression and NAME.want its oracle (below);
#   make64 NAME EXPR               the same for float64 (below);
#   mutate NAME KEY PYTHON         NAME: a copy of the recorded cross-check $FIX with its row KEY
#                                  changed by PYTHON (r: the row; $PY runs it).
#   HAS, IVY                       the QEMU user-mode command lines of the emulated CPUs
#                                  (tests/check_isa_emulated.py's models): prefix a binary with
#                                  $HAS or $IVY when qemu-x86_64 is installed.
#   best_isa                       the best DRIFTLAB_ISA level this CPU has, by /proc/cpuinfo
#                                  (as kernels/cpu/isa.cpp detects it); needs $PY.
#   ok DESC / bad DESC WHY         count a check the script made itself as passed / failed.
best_isa() {
  "${PY:-python3}" - <<'EOF'
flags = set()
for line in open("/proc/cpuinfo"):
    if line.startswith("flags"):
        flags = set(line.split(":", 1)[1].split())
        break
avx2 = {"avx2", "fma", "popcnt", "f16c"} <= flags
print("avx512" if avx2 and {"avx512f", "avx512dq", "avx512vl", "avx512bw"} <= flags else "avx2" if avx2 else "scalar")
EOF
}
HAS="qemu-x86_64 -cpu Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm"  # AVX2, no AVX-512
IVY="qemu-x86_64 -cpu IvyBridge,-x2apic,-tsc-deadline"                       # no AVX2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
pass=0 fail=0
want() {
  local rc=$1 lines=$2 desc=$3; shift 4
  timeout 120 "$@" >out.txt 2>err.txt
  local got=$? n; n=$(wc -l <err.txt)
  if [ "$got" -eq "$rc" ] && { [ "$lines" = any ] || [ "$n" -eq "$lines" ]; }; then
    pass=$((pass + 1)); printf 'ok   %-70s rc=%d stderr=%d line(s)\n' "$desc" "$got" "$n"
  else
    fail=$((fail + 1)); printf 'FAIL %-70s rc=%d (want %d) stderr=%d line(s) (want %s)\n' "$desc" "$got" "$rc" "$n" "$lines"
    head -3 err.txt | sed 's/^/     /'
  fi
}
ok() { pass=$((pass + 1)); printf 'ok   %-70s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %-70s %s\n' "$1" "$2"; }
same() {
  if [ "$(cat "$2" 2>/dev/null)" = "$3" ]; then pass=$((pass + 1)); printf 'ok   %-70s\n' "$1"
  else fail=$((fail + 1)); printf 'FAIL %-70s (%s changed)\n' "$1" "$2"; fi
}
has() {
  if grep -qF -- "$3" "$2"; then pass=$((pass + 1)); printf 'ok   %-70s\n' "$1"
  else fail=$((fail + 1)); printf 'FAIL %-70s (no "%s" in %s)\n' "$1" "$3" "$2"; fi
}
hasnt() {
  if grep -qF -- "$3" "$2"; then fail=$((fail + 1)); printf 'FAIL %-70s ("%s" in %s)\n' "$1" "$3" "$2"
  else pass=$((pass + 1)); printf 'ok   %-70s\n' "$1"; fi
}
mutate() {
  "${PY:-python3}" - "$FIX" "$1" "$2" "$3" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = [x for x in d["scenarios"] if x["key"] == sys.argv[3]][0]
exec(sys.argv[4])
json.dump(d, open(sys.argv[2], "w"))
EOF
}
exact_sum_case() {
  local name=$1 desc=$2 dt=$3 isa t got bad=0 want
  want=$(cat "$name.want")
  for isa in avx512 avx2 scalar; do
    for t in 1 2; do
      DRIFTLAB_ISA=$isa timeout 120 "$DL" sum --backend cpu --input "$name.npy" --dtype "$dt" --variant exact \
        --runs 2 --threads "$t" --json "$name.$isa.$t.json" >out.txt 2>err.txt || { bad=1; echo "     $isa/$t: exit $?"; }
      got=$("${PY:-python3}" -c "import json,sys; r=json.load(open(sys.argv[1]))['rows'][0]; print(r['result_bits'] if r['result']!='nan' else 'nan')" \
        "$name.$isa.$t.json" 2>/dev/null)
      [ "$want" = nan ] && [[ "$got" =~ ^0x[7f]f[c-f8-9a-b] ]] && got=nan  # a NaN of any payload
      [ "$got" = "$want" ] || { bad=1; echo "     $isa/$t: $got (want $want)"; }
    done
  done
  if [ "$bad" -eq 0 ]; then pass=$((pass + 1)); printf 'ok   %-72s %s at 3 levels x 2 thread counts\n' "$desc" "$want"
  else fail=$((fail + 1)); printf 'FAIL %-72s\n' "$desc"; fi
}
# sum_case DESC VARIANT ARGS...: `$DL sum --variant VARIANT ARGS` at DRIFTLAB_ISA=avx512, avx2 and
# scalar, 1 and 2 threads, 2 runs each: every run exits 0; tree gives one distinct output and the
# same result_bits everywhere; any other variant (run it under --schedule shuffle:S) the same first
# result, distinct count and max ulp everywhere.  Needs $DL and $PY.
sum_case() {
  local desc=$1 variant=$2 isa t bad=0 first="" got; shift 2
  for isa in avx512 avx2 scalar; do
    for t in 1 2; do
      DRIFTLAB_ISA=$isa timeout 300 "$DL" sum --backend cpu --threads "$t" --runs 2 --variant "$variant" "$@" \
        --json "r.json" >out.txt 2>err.txt || { bad=1; echo "     $isa/$t: exit $? $(head -1 err.txt)"; continue; }
      got=$("$PY" -c '
import json, sys
r = json.load(open("r.json"))["rows"][0]
if sys.argv[1] == "tree":
    assert r["distinct_outputs"] == 1, r
    print(r["result_bits"])
else:  # the seeded schedule draws another order each run: the same runs at every level
    print(r["result_bits"], r["distinct_outputs"], r["max_ulp"])' "$variant") \
        || { bad=1; echo "     $isa/$t: drifted or unreadable JSON"; continue; }
      if [ -z "$first" ]; then first=$got
      elif [ "$got" != "$first" ]; then bad=1; echo "     $isa/$t: $got (avx512/1: $first)"; fi
    done
  done
  if [ "$bad" -eq 0 ]; then pass=$((pass + 1)); printf 'ok   %-70s %s\n' "$desc" "$first"
  else fail=$((fail + 1)); printf 'FAIL %-70s\n' "$desc"; fi
}
# make_exact NAME PYTHON-EXPR DTYPE SEED: NAME.npy holds the array the expression gives (float32
# values, or for DTYPE bf16 the float32 values' top halves, which must be exact bf16 values),
# NAME.want the oracle's bits (tests/kat/make_kat.py's exact_sum: fractions, rounded once; "nan").
# In scope: np, rng = np.random.default_rng(SEED), T = 65536, Q = T / 4, sig(n) (random 24-bit
# significands, signed), sig8(n) (8-bit ones), paired(v) (each tile's quarter streams 1 and 3 the
# negation of 0 and 2), put(x, at, v) (v at `at`, its partner in the paired stream zeroed).
# Needs $ROOT.
make_exact() {
  "${PY:-python3}" - "$ROOT" "$@" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/tests/kat")
import make_kat as K
name, expr, dt = sys.argv[2], sys.argv[3], sys.argv[4]
rng = np.random.default_rng(int(sys.argv[5]))
T, Q = 65536, 16384

def sig(n):
    return (rng.integers(1 << 23, 1 << 24, n) * np.where(rng.random(n) < 0.5, -1.0, 1.0)).astype(np.float64)

def sig8(n):
    return (rng.integers(1 << 7, 1 << 8, n) * np.where(rng.random(n) < 0.5, -1.0, 1.0)).astype(np.float64)

def paired(v):
    x = np.asarray(v, dtype=np.float32).reshape(-1, 2, Q).copy()  # tiles x {0, 2} x Q
    out = np.empty((x.shape[0], 4, Q), dtype=np.float32)
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = x[:, 0], -x[:, 0], x[:, 1], -x[:, 1]
    return out.ravel()

def put(x, at, v):
    x[at] = v
    if at < (x.size // T) * T:
        x[at - Q if (at % T) // Q % 2 else at + Q] = 0
    return x

x = np.asarray(eval(expr), dtype=np.float32).ravel()
if dt == "bf16":
    bits = (x.view(np.uint32) >> 16).astype("<u2")
    assert np.array_equal((bits.astype(np.uint32) << 16).view(np.float32), x, equal_nan=True), "not bf16 values"
    with open(name + ".npy", "wb") as f:
        h = "{'descr': '<V2', 'fortran_order': False, 'shape': (%d,), }" % bits.size
        h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
        f.write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode() + bits.tobytes())
else:
    np.save(name + ".npy", x)
v = K.exact_sum([float(u) for u in x], K.F32)
open(name + ".want", "w").write("nan" if np.isnan(v) else "0x%08x" % K.f32_bits(v))
EOF
}
# make64 NAME PYTHON: NAME.npy (float64) from the expression's array, NAME.want the oracle's bits
# ("nan" for a NaN).  In scope: np, rng (seeded from NAME), T = 65536.
make64() {
  "$PY" - "$1" "$2" <<'EOF'
import math, struct, sys, zlib
from fractions import Fraction
import numpy as np
name, expr = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(zlib.crc32(name.encode()))
T = 65536
x = np.asarray(eval(expr), dtype=np.float64)
np.save(name + ".npy", x)
if np.isnan(x).any() or (np.isposinf(x).any() and np.isneginf(x).any()):
    want = "nan"
elif np.isinf(x).any():
    want = "0x7ff0000000000000" if np.isposinf(x).any() else "0xfff0000000000000"
else:
    s = sum((Fraction(float(v)) for v in x), Fraction(0))
    if s == 0:
        r = -0.0 if len(x) and all(math.copysign(1, v) < 0 and v == 0 for v in x) else 0.0
    else:
        try:
            r = float(s)  # correctly rounded, ties to even
        except OverflowError:
            r = math.inf if s > 0 else -math.inf
    want = "0x%016x" % struct.unpack("<Q", struct.pack("<d", r))[0]
open(name + ".want", "w").write(want)
EOF
}
