#!/usr/bin/env bash
# A hostile user's sweep of the newer command surface (issue 20): each case is run in a fresh
# folder under a 60 s timeout and checked against the bad-input promise -- the expected exit code,
# exactly one stderr line when it fails, and the folder byte for byte as it was (no stray
# temporary, no lost or partial file) unless the case expects a new file.
# Usage: tests/hostile_sweep.sh BUILD_DIR   (one line per case, then a summary; exit 1 on a break; ~4 min on 2 cores)
set -u
build=$(cd "${1:-build}" && pwd)
DL=$build/driftlab BENCH=$build/driftlab_bench PROBE=$build/driftlab_cpu_probe
root=$(mktemp -d /tmp/driftlab-sweep.XXXXXX)
trap 'chmod -R u+w "$root" 2>/dev/null; rm -rf "$root"' EXIT
src=$(cd "$(dirname "$0")/.." && pwd)
export DL BENCH PROBE src
pass=0 fail=0 n=0

snap() { (cd "$1" && find . -mindepth 1 -printf '%p %y %l\n' | sort && find . -type f -exec md5sum {} + | sort); }

# case EXPECTED_CODE 'setup shell' 'command shell' [changes]   (changes: the folder may change)
case_() {
  local want=$1 setup=$2 cmd=$3 changes=${4:-}
  n=$((n + 1))
  local d=$root/c$n
  mkdir -p "$d"
  (cd "$d" && eval "$setup") >/dev/null 2>&1
  local before; before=$(snap "$d")
  (cd "$d" && timeout -s KILL 60 bash -c "$cmd" >"$d.out" 2>"$d.err")
  # The report's progress lines ("[3/12] ...", "quick report on cpu: expect ...") are not error lines.
  local rc=$? lines; lines=$(grep -cvE '^\[[0-9]+/[0-9]+\] |^(quick|full) report on ' "$d.err")
  local after; after=$(snap "$d")
  local why=""
  [ "$rc" = "$want" ] || why="exit $rc, expected $want"
  # A signal too ends in one line ("driftlab: stopped by SIGINT") and exit 1 (host/common/signals.h).
  if [ "$want" != 0 ] && [ "$lines" != 1 ]; then why="$why; $lines stderr lines"; fi
  if [ -z "$changes" ] && [ "$before" != "$after" ]; then why="$why; the folder changed"; fi
  if [ -z "$why" ]; then
    pass=$((pass + 1))
    printf 'ok   %3d  %s\n' "$n" "$cmd"
  else
    fail=$((fail + 1))
    printf 'BREAK %3d  %s: %s: %s\n' "$n" "$cmd" "$why" "$(head -c 300 "$d.err" | tr '\n' '|')"
  fi
}

K=$src/tests/fixtures/keras_check.json
mkkeras() { python3 - "$K" "$1" "$2" <<'PY'
import sys
t = open(sys.argv[1]).read()
open("k.json", "w").write(t.replace(sys.argv[2], sys.argv[3], 1))
PY
}
export -f mkkeras 2>/dev/null; export K

# --- -h and help, every command -------------------------------------------------------------
for c in sum predict trace attention scenarios report; do case_ 0 '' "\$DL $c -h"; done
case_ 0 '' '$DL -h'
case_ 2 '' '$DL sum -x'
case_ 2 '' '$DL attention -'
case_ 2 '' '$DL trace --compare'
# --- empty and odd paths --------------------------------------------------------------------
for f in "sum --input" "sum --json" "predict --weights" "predict --input" "predict --save-output" "predict --json" \
         "attention --json" "trace --compare batch:1,2 --json" "scenarios --keras" "scenarios --json" "report --out" \
         "report --bench-json" "report --keras"; do
  case_ 2 '' "\$DL $f ''"
done
case_ 1 '' '$DL sum --backend cpu --n 10 --runs 1 --json "$(printf "a\033[2Jb")/x.json"'
case_ 1 'mkdir d' '$DL sum --backend cpu --n 10 --runs 1 --json d'
case_ 1 'mkdir d' '$DL sum --backend cpu --n 10 --runs 1 --json d/'
case_ 1 '' '$DL sum --backend cpu --n 10 --runs 1 --json .'
case_ 1 '' '$DL attention --backend cpu --runs 1 --kv-len 16 --json /dev/null'
case_ 1 'ln -s /dev/null n.json' '$DL attention --backend cpu --runs 1 --kv-len 16 --json n.json'
case_ 1 'ln -s /dev/full n.json' '$DL sum --backend cpu --n 10 --runs 1 --json n.json'
case_ 1 'ln -s n.json n.json' '$DL sum --backend cpu --n 10 --runs 1 --json n.json'
case_ 0 'echo old > r.json; ln -s r.json l.json' '$DL sum --backend cpu --n 10 --runs 1 --json l.json && test -L l.json && ! grep -q old r.json' changes
case_ 0 '' "\$DL sum --backend cpu --n 10 --runs 1 --json $(printf 'y%.0s' $(seq 250)).json" changes
case_ 1 '' "\$DL sum --backend cpu --n 10 --runs 1 --json $(printf 'y%.0s' $(seq 256))"
case_ 1 '' '$DL trace --backend cpu --compare batch:1,2 --json missing/t.json'
case_ 1 '' '$DL predict --backend cpu --runs 1 --json missing/p.json'
case_ 1 '' '$DL attention --backend cpu --runs 1 --json missing/a.json'
case_ 1 'mkfifo p' '$DL attention --backend cpu --runs 1 --kv-len 16 --json p'
case_ 1 'mkfifo p.npy' '$DL predict --backend cpu --runs 1 --save-output p.npy'
# --- stdout that cannot take the table ------------------------------------------------------
case_ 1 '' '$DL sum --backend cpu --n 10 --runs 1 >/dev/full'
case_ 1 '' '$DL attention --backend cpu --runs 1 --kv-len 16 --batch-sweep off >/dev/full'
case_ 1 '' '$DL trace --backend cpu --compare batch:1,2 >/dev/full'
case_ 1 '' '$DL predict --backend cpu --runs 1 >/dev/full'
case_ 1 '' '$DL --help >/dev/full'
case_ 1 '' '$DL sum --backend cpu --n 10 --runs 1 >&-'
case_ 1 '' '$DL sum --backend cpu --n 10 --runs 1 --json out.json >&-'
# --- attention ------------------------------------------------------------------------------
case_ 2 '' '$DL attention --backend cpu --batch 4000 --heads 16 --head-dim 256 --kv-len 16777216'
case_ 2 '' '$DL attention --backend cpu --batch 64 --heads 64 --head-dim 256 --kv-len 16777216 --batch-sweep off'
case_ 2 '' 'ulimit -v 2000000; $DL attention --backend cpu --batch 64 --heads 64 --head-dim 256 --kv-len 100000'
case_ 2 '' '$DL attention --backend cpu --batch 1 --other-kv-lens 5'
case_ 2 '' '$DL attention --backend cpu --kv-lens 5 --other-kv-lens 7'
case_ 2 '' '$DL attention --backend cpu --batch 0'
case_ 2 '' '$DL attention --backend cpu --heads 0'
case_ 2 '' '$DL attention --backend cpu --head-dim 257'
case_ 2 '' '$DL attention --backend cpu --kv-len 0'
case_ 2 '' '$DL attention --backend cpu --kv-len 16777217'
case_ 2 '' '$DL attention --backend cpu --kv-lens ""'
case_ 2 '' '$DL attention --backend cpu --kv-lens 1,,2'
case_ 2 '' '$DL attention --backend cpu --kv-lens 1,2 --batch 3'
case_ 2 '' '$DL attention --backend cpu --kv-len 4 --kv-lens 4'
case_ 2 '' '$DL attention --backend cpu --runs 0'
case_ 2 '' '$DL attention --backend cpu --runs 10001'
case_ 2 '' '$DL attention --backend cpu --split-size 0'
case_ 2 '' '$DL attention --backend cpu --variant nope'
case_ 2 '' '$DL attention --backend cpu --schedule shuffle:'
case_ 2 '' '$DL attention --backend cpu --schedule random'
case_ 2 '' '$DL attention --backend cpu --batch-sweep 0'
case_ 2 '' '$DL attention --backend cpu --batch-sweep 4097'
case_ 2 '' '$DL attention --backend cpu --heads 1024 --batch-sweep 128'
case_ 2 '' '$DL attention --backend cpu --threads -1'
case_ 2 '' '$DL attention --backend cpu --seed -1'
case_ 0 '' '$DL attention --backend cpu --runs 3 --batch 2 --heads 2 --head-dim 8 --kv-len 33 --batch-sweep 1,2 --other-kv-lens 1,7'
# --- trace ----------------------------------------------------------------------------------
case_ 2 '' '$DL trace'
case_ 2 '' '$DL trace --compare batch:1'
case_ 2 '' '$DL trace --compare batch:0,2'
case_ 2 '' '$DL trace --compare nope:1,2'
case_ 2 '' '$DL trace --compare dtype:f32,f8'
case_ 2 '' '$DL trace --compare threads:1,100000'
case_ 0 '' '$DL trace --backend cpu --compare batch:1,2 --row 5'  # row 5 of a 6-row input: accepted by design
case_ 2 '' '$DL trace --compare runs:1,2 --row 1'
case_ 2 '' '$DL trace --compare dtype:f32,bf16 --dtype bf16'
case_ 2 'python3 -c "
import struct,zipfile
def npy(vals,shape,descr=\"<f4\",fmt=\"f\"):
    d=\"{\x27descr\x27: \x27%s\x27, \x27fortran_order\x27: False, \x27shape\x27: %s, }\"%(descr,shape)
    d+=\" \"*(64-(10+len(d)+1)%64)+\"\\n\"
    return b\"\\x93NUMPY\\x01\\x00\"+struct.pack(\"<H\",len(d))+d.encode()+struct.pack(\"<%d%s\"%(len(vals),fmt),*vals)
z=zipfile.ZipFile(\"w.npz\",\"w\"); z.writestr(\"W0.npy\",npy([1,1e6,0.5,0.25],\"(2, 2)\")); z.writestr(\"b0.npy\",npy([0,0],\"(2,)\")); z.close()"' \
      '$DL trace --backend cpu --weights w.npz --compare dtype:f32,f16'
case_ 2 'cp ../c$((n-1))/w.npz . 2>/dev/null' '$DL predict --backend cpu --weights w.npz --dtype f16 --runs 1'
case_ 2 '' '$DL predict --act ""'
case_ 2 '' '$DL predict --act relu,,relu'
case_ 2 '' '$DL predict --dtype f8'
# --- --keras files --------------------------------------------------------------------------
case_ 1 '' '$DL scenarios --keras /dev/zero'
case_ 1 '' '$DL scenarios --keras /dev/null'
case_ 1 'mkfifo f' '$DL scenarios --keras f'
case_ 1 'mkdir d' '$DL scenarios --keras d'
case_ 1 '' '$DL scenarios --keras missing.json'
case_ 1 'printf "{" > k.json' '$DL scenarios --keras k.json'
case_ 1 'printf "%%s" "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" > k.json' '$DL scenarios --keras k.json'
case_ 1 'mkkeras "\"training_true\": 5" "\"training_true\": 1e999"' '$DL scenarios --keras k.json'
case_ 1 'mkkeras "\"training_true\": 5" "\"training_true\": 1.9"' '$DL scenarios --keras k.json'
case_ 1 'mkkeras "\"training_true\": 5" "\"training_true\": -1"' '$DL scenarios --keras k.json'
case_ 1 'mkkeras "\"training_true\": 5" "\"training_true\": 1e300"' '$DL scenarios --keras k.json'
case_ 1 'mkkeras "\"key\": \"example1\"" "\"key\": \"nope\""' '$DL scenarios --keras k.json'
case_ 1 'mkkeras "\"tool\": \"keras_check\"" "\"tool\": \"other\""' '$DL scenarios --keras k.json'
case_ 1 'head -c 100000000 /dev/zero | tr "\0" " " > k.json' '$DL scenarios --keras k.json'
case_ 1 'ln -s /dev/zero k.json' '$DL scenarios --keras k.json'
case_ 1 '' '$DL report --quick --backend cpu --keras /dev/zero --out out'
# --- report ---------------------------------------------------------------------------------
case_ 1 '' '$DL report --quick --backend cpu --bench-json missing.json --out out'
case_ 1 ': > e.json' '$DL report --quick --backend cpu --bench-json e.json --out out'
case_ 1 'mkfifo b.json' '$DL report --quick --backend cpu --bench-json b.json --out out'
case_ 1 '' '$DL report --quick --backend cpu --bench-json /dev/zero --out out'
case_ 1 'mkdir out; echo x > out/incomplete' '$DL report --quick --backend cpu --out out'
case_ 1 'echo x > out' '$DL report --quick --backend cpu --out out'
case_ 1 'mkdir -p out/REPORT.md' '$DL report --quick --backend cpu --out out'
case_ 1 '' '$DL report --quick --backend cpu --out /proc/nope'
case_ 1 'mkdir out; echo mine > out/REPORT.md' 'env --default-signal=INT $DL report --quick --backend cpu --out out & sleep 4; kill -INT $!; wait $!; exit $?' 
case_ 1 '' '$DL report --quick --backend cpu --out fresh & sleep 3; kill -TERM $!; wait $!; exit $?'
case_ 1 'mkdir out' '$DL report --quick --backend cpu --out out & sleep 3; kill -HUP $!; wait $!; exit $?'
# --- driftlab_bench -------------------------------------------------------------------------
case_ 1 'echo "{\"k\":1}" > b.json' '$BENCH --benchmark_filter=nomatch --benchmark_out=b.json'
case_ 1 'echo "{\"k\":1}" > b.json' '$BENCH --benchmark_filter=nomatch --benchmark_out=b.json --benchmark_out_format=csv'
case_ 1 'echo "{\"k\":1}" > b.json' 'env --default-signal=INT $BENCH --benchmark_filter=sum/cpu --benchmark_min_time=0.05 --benchmark_out=b.json >/dev/null & sleep 2; kill -INT $!; wait $!; exit $?'
case_ 1 'echo "{\"k\":1}" > b.json' '$BENCH --benchmark_filter=sum/cpu --benchmark_min_time=0.05 --benchmark_out=b.json >/dev/null & sleep 2; kill -TERM $!; wait $!; exit $?'
case_ 1 '' '$BENCH --benchmark_filter=sum/cpu/f32/uniform/serial/1024/ --benchmark_out=missing/b.json'
case_ 1 '' '$BENCH --benchmark_filter=sum/cpu/f32/uniform/serial/1024/ --benchmark_out=/dev/full'
case_ 1 'mkdir d' '$BENCH --benchmark_filter=sum/cpu/f32/uniform/serial/1024/ --benchmark_out=d'
case_ 0 'echo old > b.json' '$BENCH --benchmark_filter=sum/cpu/f32/uniform/serial/1024/ --benchmark_min_time=0.01 --benchmark_out=b.json >/dev/null && ! grep -q old b.json && ! ls -a | grep -q tmp' changes
case_ 0 '' "\$BENCH --benchmark_filter=sum/cpu/f32/uniform/serial/1024/ --benchmark_min_time=0.01 --benchmark_out=$(printf 'z%.0s' $(seq 254)) >/dev/null" changes
case_ 2 'echo old > b.json' '$BENCH --benchmark_out b.json --benchmark_filter=nomatch'
case_ 2 '' '$BENCH --bogus "$(printf "\033[2J")"'
# --- driftlab_cpu_probe ---------------------------------------------------------------------
case_ 2 '' 'ulimit -v 4000000; $PROBE gemm 1048576 1048576 1 1'
case_ 2 '' '$PROBE gemm 1048576 1048576 1048576 1'
case_ 2 '' '$PROBE dense 1048576 1048576 1024 1'
case_ 2 '' '$PROBE gemm 0 1 1'
case_ 2 '' '$PROBE gemm 1 1 1048577'
case_ 2 '' '$PROBE nope 1 1 1'
case_ 2 '' '$PROBE'
case_ 0 '' '$PROBE dense 4 16 8 1'
# --- process limits -------------------------------------------------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  asnobody() { echo "setpriv --reuid=65534 --regid=65534 --clear-groups /bin/bash -c \"ulimit -u 1; exec $1\""; }
  case_ 0 'chmod 777 .' "$(asnobody '$DL --help')"
  case_ 0 'chmod 777 .' "$(asnobody '$DL sum -h')"
  case_ 1 'chmod 777 .' "$(asnobody '$DL sum --backend cpu --n 1000 --runs 1 --threads 2')"
  case_ 0 'chmod 777 .' "$(asnobody '$PROBE dense 4 16 8 1')"
  case_ 0 'chmod 777 .' "$(asnobody '$BENCH --benchmark_list_tests')"
  case_ 1 'chmod 555 .' 'setpriv --reuid=65534 --regid=65534 --clear-groups $DL sum --backend cpu --n 10 --runs 1 --json out.json'
  case_ 1 'mkdir ro; chmod 555 ro' 'setpriv --reuid=65534 --regid=65534 --clear-groups $DL report --quick --backend cpu --out ro'
fi
# --- .npy meaning ---------------------------------------------------------------------------
case_ 0 'python3 -c "
import struct
d=\"{\x27descr\x27: \x27>V2\x27, \x27fortran_order\x27: False, \x27shape\x27: (2,), }\"
d+=\" \"*(64-(10+len(d)+1)%64)+\"\\n\"
open(\"v.npy\",\"wb\").write(b\"\\x93NUMPY\\x01\\x00\"+struct.pack(\"<H\",len(d))+d.encode()+bytes([0x80,0x3f,0,0x40]))"' \
      '$DL sum --backend cpu --input v.npy --dtype bf16 --runs 1 | grep -q "exact sum: 3 "'
case_ 1 '' '$DL sum --backend cpu --input /dev/zero'
case_ 1 'mkfifo f.npy' '$DL sum --backend cpu --input f.npy'
case_ 1 'mkdir d.npy' '$DL predict --backend cpu --input d.npy'
case_ 1 'mkfifo w.npz' '$DL predict --backend cpu --weights w.npz'

# --- session 7 (docs/bad-input-session7.md): lists, --layers with --weights, DRIFTLAB_MPIRUN ------
for l in "predict --tp 2,2 --simulate" "predict --tp 1, --simulate" "allreduce --simulate --ranks 2,2^1" \
         "allreduce --simulate --variant ring,ring" "allreduce --mpi-algorithm all,ring" "predict --layers 10,20," \
         "attention --batch-sweep 2,2"; do
  case_ 2 'echo mine > out.json' "\$DL $l --json out.json"
done
case_ 0 '' '$DL attention --backend cpu --runs 1 --variant single --heads 1 --head-dim 4 --kv-lens 8,8 --batch-sweep off'
case_ 2 'python3 -c "open(\"w.npz\",\"wb\")"' '$DL predict --backend cpu --weights w.npz --layers 4,4'
case_ 1 'echo mine > out.json; printf "#!/bin/sh\nexit 0\n" > m; chmod 644 m' 'DRIFTLAB_MPIRUN=$PWD/m $DL allreduce --ranks 2 --n 100 --json out.json'
case_ 1 'echo mine > out.json; printf "#!/bin/sh\nsleep 100\n" > m; chmod 755 m' 'DRIFTLAB_MPIRUN=$PWD/m $DL predict --tp 2 --init-seed 1 --timeout 1 --json out.json'
case_ 1 'echo mine > out.json' 'TMPDIR=$PWD/none $DL scenarios --quick --backend cpu --json out.json'

echo "hostile sweep: $n cases, $pass kept the promise, $fail broke it"
[ "$fail" = 0 ]
