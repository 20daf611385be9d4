#!/usr/bin/env bash
# Issues #27 and #22 (item 4) on the GPU machine, in one run of under 10 minutes: the lip reader retrained from
# scratch with the full recipe (upright crops, continuous-speech windows, word curriculum, time masking, cosine
# schedule, BatchNorm, bf16), twice and at once on the one GPU, the two arms differing only in the loss:
#   ctc    CTC alone;
#   sound  + the sound's per-frame targets: OVR visemes and phones of the forced alignment and the audio teacher's
#          posteriors, each at 0.3 beside CTC (the frame heads the shipped model carries, trained with the trunk).
# 575 s1 clips train, the 60 of lipnet/splits/s1_val.txt choose the epoch, lipnet/splits/s1_heldout.txt is never
# seen (score it here on the CPU: evaluate.py on data/s1, crops straight from the extractor).
#
# 1. Here (CPU), once: extract the crops (preprocessing/extract.py -v ../shared/grid/s1 -o data/s1), cache their
#    per-frame targets (any train.py --aux-visemes run, or bench/reading.py, writes <clip>.frames.npz), then pack
#    the crops (H.264, ~12 MB), the targets, the .align files and the wheels the device lacks into gpu/ and .whl/ (git-ignored):
#        bash bench/gpu_aux.sh prepare
# 2. On the device: carry [".whl", "gpu"], command `bash bench/gpu_aux.sh run`, timeout_s 600.
#    EPOCHS (default 200) is each arm's cosine schedule; BUDGET (default 400 s) stops both arms where they are, so
#    the run always ends in time and brings back each arm's best checkpoint so far.
#    $OUT gets runs.tar.part-* (each arm's best.hdf5, log.csv, curves.png, config.json) and gpu.log.
# 3. Here: cat <files_at>/runs.tar.part-* | tar x -C runs/gpu, then evaluate.py -w runs/gpu/<arm>/best.hdf5.
# A smoke test of the run on the CPU: EPOCHS=1 CLIPS=16 BUDGET=600 OUT=/tmp/gpu-aux bash bench/gpu_aux.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

case "${1:-}" in
prepare)
  python=${PYTHON:-.venv/bin/python}
  rm -rf gpu && mkdir -p gpu
  $python preprocessing/pack.py pack data/s1 -o gpu/pack
  (cd data && tar czf ../gpu/targets.tgz s1/*.frames.npz)  # 745 clips' targets, 9 MB
  tar czf gpu/align.tgz -C ../shared/grid/align s1
  ../shared/tools/device-wheels.sh >/dev/null
  du -sh gpu .whl
  ;;
run)
  if [ -d .whl ] && ! "$python" -c "import keras" 2>/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax
  fi
  out=${OUT:?set OUT to the directory the results go to}
  epochs=${EPOCHS:-200}
  budget=${BUDGET:-400}
  data=/tmp/gpu-aux-data
  runs=/tmp/gpu-aux-runs
  rm -rf "$data" "$runs" && mkdir -p "$data/s1" "$runs"
  exec > >(tee "$out/gpu.log") 2>&1
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
  "$python" preprocessing/pack.py unpack gpu/pack -o "$data/s1"
  tar xzf gpu/targets.tgz -C "$data"
  mkdir -p "$data/align" && tar xzf gpu/align.tgz -C "$data/align"
  if [ -n "${CLIPS:-}" ]; then  # smoke test: train on the first CLIPS clips outside val and held-out
    ls "$data/s1"/*.npy | xargs -n1 basename | sed 's/\.npy$//; s/^/s1\//' | sort \
      | grep -vxFf lipnet/splits/s1_val.txt | grep -vxFf lipnet/splits/s1_heldout.txt | tail -n +"$((CLIPS + 1))" \
      > "$data/left-out.txt"
  else
    : > "$data/left-out.txt"
  fi
  precision=$("$python" -c "import jax; print('--mixed-precision' if jax.default_backend() == 'gpu' else '')" \
    2>/dev/null || true)
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.45 PYTHONUNBUFFERED=1  # two processes share the GPU's memory
  declare -A arms=([ctc]="" [sound]="--aux-visemes 0.3 --aux-phones 0.3 --distill 0.3")
  pids=()
  for arm in ctc sound; do
    # shellcheck disable=SC2086  # the flags are words
    timeout "$budget" "$python" train.py -d "$data" -a "$data/align" --speakers s1 --split lipnet/splits/s1_val.txt \
      --exclude lipnet/splits/s1_heldout.txt --exclude "$data/left-out.txt" -e "$epochs" -b 32 -lr 3e-4 \
      --schedule cosine --curriculum 20 --windows 0.5 --model '{"batch_norm": true, "time_mask": 5}' \
      $precision ${arms[$arm]} -o "$runs/$arm" > "$runs/$arm.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true  # the arms only: a bare wait would also wait for the log's tee
  for arm in ctc sound; do
    echo "## $arm"
    tail -n 4 "$runs/$arm.log"
    tail -n 3 "$runs/$arm/log.csv" 2>/dev/null || true
  done
  (cd "$runs" && tar cf - ./*.log ./*/best.hdf5 ./*/log.csv ./*/curves.png ./*/config.json ./*/split.txt) \
    | split -b 15M - "$out/runs.tar.part-"
  ls -la "$out"
  ;;
*)
  echo "usage: bash bench/gpu_aux.sh prepare | run (see the comments at its top)" >&2
  exit 2
  ;;
esac
