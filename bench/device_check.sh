#!/usr/bin/env bash
# One-shot accelerator check (issue #19): GPU tests, bench/gpu.py, the whole default pipeline
# on Fashion-MNIST 70k with every family on CUDA, and a resume-after-SIGKILL check on CUDA.
#
#   OUT=/some/dir bench/device_check.sh             # on the GPU machine (the default mode)
#   GENQC_CHECK_MODE=cpu bench/device_check.sh      # the same code path on a CPU, tiny settings
#
# Device time is minutes, so: each part has its own time cap, every part is also cut to what
# is left of GENQC_CHECK_BUDGET seconds, and summary.json/summary.md are rewritten after each
# part (a run stopped from outside still leaves the parts that finished). $OUT receives at
# most 8 files: summary.json, summary.md, run.log, stages.log, pipeline.json, resume.json,
# bench_gpu.json, reports.tar.gz.
#
# GENQC_CHECK_PARTS picks parts for a shorter rerun (default: "tests bench pipeline resume").
#
# Optional inputs, when present in the repository root (both git-ignored, carried by the
# device tool): .whl/*.whl, the Python packages the device lacks (installed to a scratch
# site dir), and .devdata/*-ubyte.xz, the Fashion-MNIST IDX files (xz: they travel smaller).
set -u
cd "$(dirname "$0")/.."
MODE=${GENQC_CHECK_MODE:-gpu}
OUT=${OUT:-/tmp/genqc-device-out}
WORK=${GENQC_CHECK_WORK:-/tmp/genqc-check}
BUDGET=${GENQC_CHECK_BUDGET:-500}
PY=${PYTHON:-python3}
PARTS=" ${GENQC_CHECK_PARTS:-tests bench pipeline resume} "
mkdir -p "$OUT" && rm -rf "$WORK" && mkdir -p "$WORK"
exec > >(tee -a "$OUT/run.log") 2>&1
export PYTHONUNBUFFERED=1
left() { echo $((BUDGET - SECONDS)); }
cap() { local limit=$1 rest; rest=$(($(left) - ${2:-20})); ((rest < limit)) && limit=$rest; ((limit < 1)) && limit=1; echo "$limit"; }
part() { echo; echo "######## $* (t=${SECONDS}s, $(left)s left) ########"; }
want() { [[ $PARTS == *" $1 "* ]]; }
summary() { "$PY" -m bench.device_check summary --out "$OUT" --junit "$WORK/pytest.xml" >/dev/null || true; }

part "environment ($MODE)"
nvidia-smi || true
if compgen -G ".whl/*.whl" >/dev/null && [ "$MODE" = gpu ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" .whl/*.whl \
    || { echo "wheel install failed"; exit 1; }
fi
export PYTHONPATH="$PWD${WORK:+:$WORK/site}${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import torch, genqc; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
if [ "$MODE" = gpu ]; then
  DATA_DIR=$WORK/fashion-mnist; mkdir -p "$DATA_DIR"
  if compgen -G ".devdata/*.xz" >/dev/null; then
    "$PY" -c 'import lzma, pathlib, shutil, sys
for f in sys.argv[2:]:
    with lzma.open(f) as src, open(pathlib.Path(sys.argv[1]) / pathlib.Path(f).stem, "wb") as dst:
        shutil.copyfileobj(src, dst)' "$DATA_DIR" .devdata/*.xz || exit 1
  else
    DATA_DIR=/usr/share/datasets/fashion-mnist
  fi
  SETTINGS=(--set "ingest.source=idx:$DATA_DIR")
  KILL_AT=100
  RESUME=(--set train.steps=300 --set train.checkpoint_every=10 --set train.log_every=50 --set train.image_every=1000
          --set train.batch_size=64)
  BENCH=()
  PIPE_BUDGETS=(--budget classifier=45 --budget train@ddpm=100 --budget train=50 --budget sample=45
                --budget evaluate@ddpm=100 --budget evaluate=80 --budget default=60)
  TEST_CAP=90 BENCH_CAP=100 PREP_CAP=150 PIPE_CAP=330 RESUME_CAP=60
else  # the CPU rehearsal: same commands, digits and a handful of steps
  SETTINGS=(--set ingest.source=builtin:digits --set ingest.split=stratified --set classifier.device=cpu
            --set classifier.epochs=1 --set train.device=cpu --set sample.device=cpu --set evaluate.device=cpu
            --set train.steps=6 --set train.checkpoint_every=2 --set sample.n=60 --set evaluate.bootstrap=3
            --set evaluate.kid_subsets=3 --set evaluate.kid_subset_size=50 --set train.dcgan.width=8
            --set train.vae.width=8 --set train.ddpm.width=8 --set train.ddpm.sample_steps=4 --set gates.fail=false)
  KILL_AT=4
  RESUME=(--set train.steps=12 --set train.checkpoint_every=1 --set train.log_every=1 --set train.batch_size=16)
  BENCH=(--device cpu)
  PIPE_BUDGETS=(--budget default=900)
  TEST_CAP=300 BENCH_CAP=600 PREP_CAP=600 PIPE_CAP=3000 RESUME_CAP=1200
fi
"$PY" -m bench.device_check params --override bench/device_params.yaml "${SETTINGS[@]}" --out "$WORK/params.yaml" || exit 1
"$PY" -m bench.device_check params --override bench/device_params.yaml "${SETTINGS[@]}" "${RESUME[@]}" \
  --out "$WORK/params-resume.yaml" || exit 1
summary

# The pipeline's CPU-only stages run beside the GPU tests (their times are recorded with that neighbour).
PIPE=("$PY" -m bench.device_check pipeline --workdir "$WORK/pipeline" --params "$WORK/params.yaml"
      --record "$OUT/pipeline.json" --log "$OUT/stages.log")
PREP=
if want pipeline; then
  "${PIPE[@]}" --deadline $(($(date +%s) + $(cap "$PREP_CAP"))) ingest validate augment >"$WORK/prep.out" 2>&1 &
  PREP=$!
fi

if want tests; then
  part "1. GPU-marked tests"
  mapfile -t GPU_TESTS < <(grep -rl "mark.gpu" tests --include='*.py')
  timeout -k 5 "$(cap "$TEST_CAP")" "$PY" -m pytest -q -m gpu -p no:cacheprovider --junitxml="$WORK/pytest.xml" \
    "${GPU_TESTS[@]}"
  echo "pytest exit $?"
  summary
fi

if [ -n "$PREP" ]; then
  part "waiting for ingest, validate, augment"
  wait "$PREP"; cat "$WORK/prep.out"
fi

if want bench; then
  part "2. bench/gpu.py"
  rm -f bench/results/gpu.json
  timeout -k 5 "$(cap "$BENCH_CAP")" "$PY" -m bench.gpu "${BENCH[@]}"
  echo "bench.gpu exit $?"
  [ -f bench/results/gpu.json ] && cp bench/results/gpu.json "$OUT/bench_gpu.json"
  summary
fi

if want pipeline; then
  part "3. pipeline on the GPU: classifier, train/sample/evaluate of train.model, publish, the other families, report"
  "${PIPE[@]}" --deadline $(($(date +%s) + $(cap "$PIPE_CAP" 50))) \
    "${PIPE_BUDGETS[@]}" classifier primary publish others report
  summary
fi

if want resume; then
  part "4. resume after SIGKILL"
  timeout -k 5 "$(cap "$RESUME_CAP" 10)" "$PY" -m bench.device_check resume --root "$WORK/resume" \
    --params "$WORK/params-resume.yaml" --record "$OUT/resume.json" --log "$OUT/stages.log" --kill-at "$KILL_AT" \
    --timeout 60 ddpm vae
  echo "resume exit $?"
fi

part "results"
tar -czf "$OUT/reports.tar.gz" -C "$WORK" pipeline/reports pytest.xml params.yaml 2>/dev/null || true
summary
cat "$OUT/summary.md"
echo "done in ${SECONDS}s"
