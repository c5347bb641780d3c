#!/usr/bin/env bash
# Installs what driftlab builds with, from Debian's packages, when it is missing.
# Idempotent and quiet when everything is present; needs root (or sudo) only to install.
# --keras: also installs the pinned TensorFlow (CPU) into .venv for scripts/keras_check.py.
# --python: also builds driftlab's Python package (pyproject.toml: nanobind, CPU backend) into .venv.
# --fuzz: also clang and its compiler runtime (libFuzzer, ASan, UBSan) for tests/fuzz/run.sh.
set -euo pipefail
keras=0
fuzz=0
python=0
for arg in "$@"; do
  case "$arg" in
    --keras) keras=1 ;;
    --fuzz) fuzz=1 ;;
    --python) python=1 ;;
    *) echo "setup: unknown option '$arg' (usage: setup.sh [--keras] [--fuzz] [--python])" >&2; exit 2 ;;
  esac
done

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in cmake g++ make pkg-config libgtest-dev libbenchmark-dev libzip-dev libopenblas-dev; do
  have_pkg "$pkg" || need+=("$pkg")
done
if [ "$python" -eq 1 ]; then  # Python.h for the module (nanobind builds against the interpreter's headers)
  have_pkg python3-dev || need+=(python3-dev)
fi
# Open MPI for `driftlab allreduce` (mpirun and the C library; the build works without it).
for pkg in openmpi-bin libopenmpi-dev; do
  have_pkg "$pkg" || need+=("$pkg")
done
# QEMU's user-mode emulator for ctest EndToEnd.IsaEmulatedCpus (tests/check_isa_emulated.py): the
# kernels on an AVX2-only and a pre-AVX2 CPU model, whatever CPU this is.
if [ "$(uname -m)" = x86_64 ]; then
  have_pkg qemu-user || need+=(qemu-user)
fi
if [ "$fuzz" -eq 1 ]; then
  for pkg in clang libclang-rt-dev; do
    have_pkg "$pkg" || need+=("$pkg")
  done
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# matplotlib for plots/plot.py, in a virtualenv of the project's own (.venv, git-ignored).
root=$(cd "$(dirname "$0")/.." && pwd)
if ! "$root/.venv/bin/python" -c "import matplotlib" >/dev/null 2>&1; then
  echo "setup: creating $root/.venv with matplotlib"
  if ! python3 -m venv "$root/.venv" >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$root/.venv"
  fi
  "$root/.venv/bin/pip" install -q --disable-pip-version-check matplotlib==3.9.2
fi

# TensorFlow for the Keras cross-check (scripts/keras_check.py), only when asked: it is ~250 MB.
# Pinned: the cross-check's numbers are for this version (Keras 3 comes with it).
if [ "$keras" -eq 1 ] && ! "$root/.venv/bin/python" -c "import tensorflow" >/dev/null 2>&1; then
  echo "setup: installing tensorflow-cpu==2.21.0 into $root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check tensorflow-cpu==2.21.0
fi
# tf_keras (Keras 2, TF_USE_LEGACY_KERAS=1): the article's seeds are also checked on the legacy Keras.
if [ "$keras" -eq 1 ] && ! "$root/.venv/bin/python" -c "import tf_keras" >/dev/null 2>&1; then
  echo "setup: installing tf_keras==2.21.0 into $root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check tf_keras==2.21.0
fi

# The Python package (import driftlab): built from this tree's C++ by pip (scikit-build-core, nanobind,
# fetched into pip's isolated build environment), CPU backend only; ml_dtypes for bfloat16 arrays.
# Rebuilt every time it is asked for (the build folder build-python/ keeps it incremental).
if [ "$python" -eq 1 ]; then
  echo "setup: building the driftlab Python package into $root/.venv (pip install $root)"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check "$root"
fi

# CUDA is optional: without nvcc the CPU backend is built alone (DRIFTLAB_CUDA=AUTO).
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: nvcc is at /usr/local/cuda/bin but not on PATH; add it to build the CUDA backend"
fi

# cuobjdump and nvdisasm for tests/check_sass.py (the SASS structure of the CUDA kernels), for CUDA
# builds only: some toolkits (this machine's CUDA 13 among them) ship without them; PyPI's NVIDIA
# packages carry the binaries (found by check_sass.py under .venv's site-packages/nvidia/*/bin).
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  if ! "$root/.venv/bin/python" -c "import glob, sys; sys.exit(not glob.glob(sys.prefix + '/lib/python*/site-packages/nvidia/*/bin/cuobjdump'))" >/dev/null 2>&1; then
    echo "setup: installing cuobjdump and nvdisasm (nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm) into $root/.venv"
    "$root/.venv/bin/pip" install -q --disable-pip-version-check "nvidia-cuda-cuobjdump>=13,<14" "nvidia-cuda-nvdisasm>=13,<14"
  fi
fi
