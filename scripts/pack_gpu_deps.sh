#!/usr/bin/env bash
# Copies this machine's GoogleTest and Google Benchmark (Debian packages: headers, libraries,
# relocatable CMake configs) into .deps/, for a GPU machine that has the CUDA toolkit but neither
# library and no network.  Carry .deps/ there; scripts/gpu_check.sh uses it when present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dst="$root/.deps"
multi=lib/x86_64-linux-gnu
rm -rf "$dst"
mkdir -p "$dst/include" "$dst/$multi/cmake"
cp -a /usr/include/gtest /usr/include/gmock /usr/include/benchmark "$dst/include/"
cp -a /usr/$multi/cmake/GTest /usr/$multi/cmake/benchmark "$dst/$multi/cmake/"
cp -a /usr/$multi/libgtest*.a /usr/$multi/libgmock*.a /usr/$multi/libbenchmark* "$dst/$multi/"
du -sh "$dst"
