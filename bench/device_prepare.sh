#!/usr/bin/env bash
# Prepares what bench/device_check.sh carries to a GPU machine that has no package index: the wheels it lacks
# (bench/device_wheels.txt, for its Python 3.12) in .whl/, and Fashion-MNIST's IDX files xz-compressed (smaller
# than gzip, so the carried tree stays under its 64 MiB) in .devdata/. Both folders are git-ignored.
#   bench/device_prepare.sh    # then: run `bash bench/device_check.sh` there, carrying .whl and .devdata
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
grep -qxF "/.whl/" .git/info/exclude 2>/dev/null || printf '/.whl/\n/.devdata/\n' >> .git/info/exclude
mkdir -p .whl .devdata
grep -v '^#' bench/device_wheels.txt | xargs "$PY" -m pip download -q --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d .whl
SRC=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}  # apt-get install -y dataset-fashion-mnist
for f in "$SRC"/*-ubyte.gz; do
  "$PY" -c 'import gzip, lzma, shutil, sys
with gzip.open(sys.argv[1]) as src, lzma.open(sys.argv[2], "wb", preset=9) as dst:
    shutil.copyfileobj(src, dst)' "$f" ".devdata/$(basename "${f%.gz}").xz"
done
du -sh .whl .devdata
