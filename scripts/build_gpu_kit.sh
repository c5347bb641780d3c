#!/usr/bin/env bash
# Builds the GPU kit: one folder, ./kit/ (git-ignored), packed into ./kit.tar.gz (git-ignored,
# under 48 MiB: it travels to the device with the working tree, 64 MiB in all), holding everything the GPU
# check needs on a machine with a GPU, the CUDA 13 toolkit and python3, but no compiler run,
# no network and maybe none of GoogleTest, Google Benchmark, libzip or OpenBLAS:
#   kit/bin/      driftlab, driftlab_bench, driftlab_tests, driftlab_kat_tests (the known answers,
#                 KnownAnswersCuda.* run on the GPU) for sm_80 and sm_90 (stripped);
#                 libstdc++/libgcc and GoogleTest linked statically; the other libraries they
#                 need (Google Benchmark, libzip, OpenBLAS, ... -- whatever ldd names) copied
#                 into kit/bin/lib, found through RPATH $ORIGIN/lib.  Never bundled: libc and
#                 its kin, the driver (libcuda), the CUDA runtime and cuBLAS (the machine's own).
#   kit/plots/plot.py (driftlab report finds it one folder above itself), kit/scripts/ (the check
#   and its summary), kit/tests/ (the plot check and the test fixtures), kit/run.sh (the runner),
#   kit/MANIFEST.txt (commit, sizes, libraries).
# Then it proves the kit self-contained: every library the binaries load resolves into kit/bin/lib
# or to the allowed system set, with LD_LIBRARY_PATH empty; and (unless --no-rehearse) it runs
# the CPU rehearsal of the check from the kit's own binaries.
# Needs nvcc (CUDA 13), the build dependencies (scripts/setup.sh) and about 10 minutes on 2 cores.
# usage: scripts/build_gpu_kit.sh [--no-rehearse] [KITDIR]   (default ./kit)
set -euo pipefail
rehearse=1
kit=""
for a in "$@"; do
  case "$a" in
    --no-rehearse) rehearse=0 ;;
    -*) echo "usage: scripts/build_gpu_kit.sh [--no-rehearse] [KITDIR]" >&2; exit 2 ;;
    *) kit=$a ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
kit=${kit:-$root/kit}
build="$root/build-kit"
export PATH="/usr/local/cuda/bin:$PATH"
command -v nvcc >/dev/null || { echo "build_gpu_kit: nvcc not found (CUDA 13 toolkit)" >&2; exit 1; }
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
[ -f "$build/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${gen[1]:-Unix Makefiles}" "$build/CMakeCache.txt" && rm -rf "$build"

echo "== configure and build ($build)"
mkdir -p "$build"
# OpenBLAS linked statically where its archive exists (only the sgemm it needs comes along).
blas=()
for a in /usr/lib/x86_64-linux-gnu/libopenblas.a /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a; do
  [ -f "$a" ] && { blas=(-DOPENBLAS_LIBRARY="$a"); break; }
done
launcher=()  # ccache when there is one (a shared cache makes a rebuild mostly hits)
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
# No MPI in the kit: the device image has no Open MPI, and the GPU check does not run allreduce.
cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DDRIFTLAB_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="80-real;90-real" "${blas[@]}" "${launcher[@]}" -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON \
  -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc -Wl,--disable-new-dtags" \
  -DCMAKE_BUILD_RPATH='$ORIGIN/lib' >"$build/kit-build.log" 2>&1 || { tail -30 "$build/kit-build.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target driftlab driftlab_bench driftlab_tests driftlab_kat_tests >>"$build/kit-build.log" 2>&1 ||
  { tail -40 "$build/kit-build.log"; exit 1; }

echo "== assemble $kit"
rm -rf "$kit"
mkdir -p "$kit/bin/lib" "$kit/plots" "$kit/scripts" "$kit/tests/fixtures"
for exe in driftlab driftlab_bench driftlab_tests driftlab_kat_tests; do
  cp "$build/$exe" "$kit/bin/"
  strip --strip-unneeded "$kit/bin/$exe"
done
# System libraries the image has (glibc's family) or must provide itself (driver, CUDA runtime, cuBLAS).
allowed='^(linux-vdso\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|ld-linux-x86-64\.so|libcuda\.so|libcudart\.so|libcublas\.so|libcublasLt\.so)'
bundle() {  # copies every non-allowed library that $1 loads into kit/bin/lib
  ldd "$1" | awk '/=> \//{print $1, $3}' | while read -r name path; do
    if ! [[ "$name" =~ $allowed ]] && [ ! -e "$kit/bin/lib/$name" ]; then
      cp -L "$path" "$kit/bin/lib/$name"
      strip --strip-unneeded "$kit/bin/lib/$name" 2>/dev/null || true
    fi
  done
}
for exe in "$kit"/bin/driftlab*; do bundle "$exe"; done
for lib in "$kit"/bin/lib/*; do [ -e "$lib" ] && bundle "$lib"; done
cp "$root"/plots/*.py "$root/plots/variants.json" "$kit/plots/"  # variants.json: the variant tables (plots and summary)
cp "$root/scripts/gpu_check.sh" "$root/scripts/gpu_check_summary.py" "$kit/scripts/"
cp "$root/tests/check_plots.py" "$kit/tests/"
cp -r "$root/tests/fixtures/." "$kit/tests/fixtures/"
cat >"$kit/run.sh" <<'EOF'
#!/usr/bin/env bash
# The GPU check from this kit: kit/run.sh OUTDIR (on the device machine: kit/run.sh "$OUT").
# kit/run.sh --rehearse OUTDIR runs the CPU rehearsal with the same binaries.
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/scripts/gpu_check.sh" --bin "$here/bin" "$@"
EOF
chmod +x "$kit/run.sh" "$kit/scripts/"*

echo "== prove it self-contained (LD_LIBRARY_PATH empty)"
# What each binary loads, everything it pulls in included, as the loader resolves it for that
# binary.  libgcc_s is loaded for cuBLAS (its RUNPATH is its own folder): whatever machine has
# cuBLAS has it, so it counts as the machine's; the kit's copy serves the bundled libraries.
problems=0
for f in "$kit"/bin/driftlab*; do
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    if [[ "$name" =~ $allowed ]] || [[ "$name" == libgcc_s.so.* ]]; then continue; fi
    case "$path" in
      "$kit/bin/lib/"*) ;;
      *) echo "  $(basename "$f") loads $name from $path: outside the kit"; problems=1 ;;
    esac
  done < <(LD_LIBRARY_PATH="" ldd "$f" 2>&1)
  LD_LIBRARY_PATH="" ldd "$f" 2>&1 | grep "not found" | grep -vE "libcuda\.so" && problems=1
  # and it starts: lists its tests or benchmarks, or runs a small CPU sum
  case "$(basename "$f")" in
    driftlab) LD_LIBRARY_PATH="" "$f" sum --backend cpu --n 1000 --runs 2 >/dev/null ;;
    driftlab_bench) LD_LIBRARY_PATH="" "$f" --benchmark_list_tests >/dev/null 2>&1 ;;
    driftlab_tests|driftlab_kat_tests) LD_LIBRARY_PATH="" "$f" --gtest_list_tests >/dev/null ;;
  esac || { echo "  $(basename "$f") does not start from the kit"; problems=1; }
done
ldd_report=$(for f in "$kit"/bin/driftlab*; do echo "$(basename "$f"):"; LD_LIBRARY_PATH="" ldd "$f" | sed "s|$kit/||"; done)
glibc=$(objdump -T "$kit"/bin/driftlab* "$kit"/bin/lib/* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
size=$(du -sm "$kit" | cut -f1)
{
  echo "driftlab GPU kit"
  echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (plus uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), nvcc $(nvcc --version | grep -o 'release [0-9.]*')"
  echo "CUDA architectures: sm_80, sm_90 (real; no PTX: a GPU newer than sm_90 needs a kit built for it)"
  echo "size: ${size} MiB"
  echo "newest glibc symbol needed: $glibc"
  echo "bundled in bin/lib: $(cd "$kit/bin/lib" && ls | tr '\n' ' ')"
  echo "needed from the machine:"
  for exe in "$kit"/bin/driftlab*; do
    echo "  $(basename "$exe"): $(readelf -d "$exe" | awk '/NEEDED/{gsub(/[\[\]]/,"",$5); print $5}' | tr '\n' ' ')"
  done
  echo "RPATH: $(readelf -d "$kit/bin/driftlab" | awk '/RPATH|RUNPATH/{print $5}')"
  echo "as the loader resolves them here (LD_LIBRARY_PATH empty):"
  echo "$ldd_report"
} >"$kit/MANIFEST.txt"
cat "$kit/MANIFEST.txt"
[ "$problems" -eq 0 ] || { echo "build_gpu_kit: the kit is not self-contained (above)"; exit 1; }
echo "self-contained: every library resolves into kit/bin/lib or to libc/libcuda/libcudart/libcublas"
# What travels: the kit packed (each binary carries its own static OpenBLAS, which packs well).
archive="$(dirname "$kit")/$(basename "$kit").tar.gz"
tar -czf "$archive.tmp" -C "$(dirname "$kit")" "$(basename "$kit")" && mv "$archive.tmp" "$archive"
packed=$(( $(stat -c %s "$archive") >> 20 ))
tree_mb=$(( $(git -C "$root" ls-files -z --cached --others --exclude-standard | (cd "$root" && xargs -0 du -cb 2>/dev/null) | tail -1 | cut -f1) >> 20 ))
echo "packed: $archive, ${packed} MiB (the kit unpacked: ${size} MiB; the working tree: ${tree_mb} MiB)"
[ $((packed + tree_mb)) -lt 60 ] || { echo "build_gpu_kit: ${packed} MiB packed + ${tree_mb} MiB of working tree: over what a device call carries (64 MiB)"; exit 1; }

if [ "$rehearse" -eq 1 ]; then
  echo "== the CPU rehearsal from the kit's binaries"
  # matplotlib from the setup step's virtualenv here (the GPU image's python3 has its own)
  [ -x "$root/.venv/bin/python" ] && export DRIFTLAB_PYTHON="$root/.venv/bin/python"
  "$kit/run.sh" --rehearse "$build/rehearsal" | tail -5
fi
echo "build_gpu_kit: $kit ready (${size} MiB), packed as $archive (${packed} MiB)"
