#!/usr/bin/env bash
# Issue #14 on the GPU machine, in one run: does the lip reader learn better with the sound's per-frame targets?
# Three LipNets trained from scratch on GRID s1 (575 clips; s1_val chooses the epoch; s1_heldout.txt scores),
# the same recipe but for the loss: CTC alone, + frame visemes (--aux-visemes 0.3), + the audio teacher's posteriors
# (--distill 0.3); then each best checkpoint read on the 110 held-out clips, sentences and chains of three.
#
# 1. Here (CPU), once: pack the crops (H.264, a few tens of MB), their per-frame targets and the word timings into
#    gpu/ (git-ignored), and fetch the wheels the device lacks (.whl/):
#        bash bench/gpu_aux.sh prepare
#    The crops must exist (preprocessing/extract.py ... -o data/sync/crops/s1 --frames 0) and their targets be
#    cached (bench/aux.py or any train.py --aux-visemes run computes them: <clip>.frames.npz).
# 2. On the device: run with carry [".whl", "gpu"], command `bash bench/gpu_aux.sh run`, timeout_s 600.
#    EPOCHS (default 150, ~3 min an arm at the ~1,100 clips/s measured on an H100) sets each arm's length.
#    Everything it writes goes to $OUT (run directories, results.md).
# A smoke test of the run on the CPU: EPOCHS=1 CLIPS=16 OUT=/tmp/gpu-aux bash bench/gpu_aux.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

case "${1:-}" in
prepare)
  python=${PYTHON:-.venv/bin/python}
  rm -rf gpu && mkdir -p gpu/targets gpu/align
  $python preprocessing/pack.py pack data/sync/crops/s1 -o gpu/pack
  cp data/sync/crops/s1/*.frames.npz gpu/targets/
  cp -r ../shared/grid/align/s1 gpu/align/
  ../shared/tools/device-wheels.sh >/dev/null
  du -sh gpu .whl
  ;;
run)
  if [ -d .whl ] && ! "$python" -c "import keras" 2>/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax
  fi
  out=${OUT:?set OUT to the directory the results go to}
  epochs=${EPOCHS:-150}
  data=/tmp/gpu-aux-data
  rm -rf "$data" && mkdir -p "$data"
  "$python" preprocessing/pack.py unpack gpu/pack -o "$data/s1"
  cp gpu/targets/*.frames.npz "$data/s1/"
  heldout=lipnet/splits/s1_heldout.txt
  if [ -n "${CLIPS:-}" ]; then  # smoke test: train on the first CLIPS clips outside val and held-out, score CLIPS
    ls "$data/s1"/*.npy | xargs -n1 basename | sed 's/\.npy$//; s/^/s1\//' | sort \
      | grep -vxFf lipnet/splits/s1_val.txt | grep -vxFf lipnet/splits/s1_heldout.txt | tail -n +"$((CLIPS + 1))" \
      > "$data/left-out.txt"
    head -n "$CLIPS" lipnet/splits/s1_heldout.txt > "$data/heldout.txt"
    heldout=$data/heldout.txt
  else
    : > "$data/left-out.txt"
  fi
  precision=$("$python" -c "import jax; print('--mixed-precision' if jax.default_backend() == 'gpu' else '')" \
    2>/dev/null || true)
  declare -A arms=([ctc]="" [visemes]="--aux-visemes 0.3" [distill]="--distill 0.3")
  for arm in ctc visemes distill; do
    # shellcheck disable=SC2086  # the flags are words
    "$python" train.py -d "$data" -a gpu/align --speakers s1 --split lipnet/splits/s1_val.txt \
      --exclude lipnet/splits/s1_heldout.txt --exclude "$data/left-out.txt" -e "$epochs" -b 32 -lr 3e-4 \
      --schedule cosine --model '{"batch_norm": true}' $precision ${arms[$arm]} -o "$out/$arm"
  done
  {
    echo "# bench/gpu_aux.sh: $epochs epochs an arm from scratch, scored on lipnet/splits/s1_heldout.txt"
    for arm in ctc visemes distill; do
      echo "## $arm"
      "$python" evaluate.py -w "$out/$arm/best.hdf5" -d "$data" --split "$heldout"
      "$python" evaluate.py -w "$out/$arm/best.hdf5" -d "$data" --split "$heldout" --chain 3
    done
  } | tee "$out/results.md"
  ;;
*)
  echo "usage: bash bench/gpu_aux.sh prepare | run (see the comments at its top)" >&2
  exit 2
  ;;
esac
