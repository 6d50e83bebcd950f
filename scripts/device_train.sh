#!/usr/bin/env bash
# Train a larger PerfRL model on a lent accelerator, in one command that runs there from the
# repository root and writes what comes back to $OUT (see model_export/README.md, "On an
# accelerator", for preparing the bundle here and reading the result back).
#
# It needs the bundle .device/ (ignored by git, carried to the device):
#   .device/wheels/*.whl        packages the device's image lacks or has in other versions
#   .device/data/{train,valid}.jsonl.gz   python -m perfrl_train.device_bundle data ...
#   .device/tokenizer/          the tokenizer to train with (the shipped model's)
# Settings (environment): PERFRL_DEVICE_MINUTES (training time, default 7),
# PERFRL_DEVICE_SIZE (default medium), PERFRL_DEVICE_STEPS (default 6000),
# PERFRL_DEVICE_BATCH (default 64), PERFRL_DEVICE_ARGS (more `perfrl-train sft` options,
# e.g. "--output-format edit-v1 --max-source-length 400").
# Without a GPU it runs on the CPU (how the tests check it), slowly.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${PERFRL_BUNDLE:-.device}
out=${OUT:?set OUT: the folder whose files come back}
minutes=${PERFRL_DEVICE_MINUTES:-7}
mkdir -p "$out"
for need in "$bundle/data/train.jsonl.gz" "$bundle/data/valid.jsonl.gz" "$bundle/tokenizer/tokenizer.json"; do
    if [ ! -f "$need" ]; then
        echo "device_train: $need is missing: prepare the bundle first (model_export/README.md)" >&2
        exit 2
    fi
done
site=${TMPDIR:-/tmp}/perfrl-device-site
if compgen -G "$bundle/wheels/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$bundle"/wheels/*.whl
    export PYTHONPATH="$site"
fi
export PYTHONPATH="$PWD/server:$PWD/model_export${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for split in train valid; do
    gunzip -c "$bundle/data/$split.jsonl.gz" > "$work/$split.jsonl"
done
{ nvidia-smi -L 2>/dev/null || echo "no GPU: training on the CPU"; } > "$out/device.txt"
# The time limit ends training with SIGTERM: the trainer finishes its step and writes the
# checkpoint (exit 0), so a slower device returns fewer steps rather than nothing.
set +e
# shellcheck disable=SC2086  # PERFRL_DEVICE_ARGS is a list of options
timeout -s TERM -k 120 "$((minutes * 60))" python3 -m perfrl_train.cli sft \
    --data "$work" --out "$work/ckpt" --from-config "${PERFRL_DEVICE_SIZE:-medium}" \
    --tokenizer "$bundle/tokenizer" --batch-size "${PERFRL_DEVICE_BATCH:-64}" \
    --max-steps "${PERFRL_DEVICE_STEPS:-6000}" --lr 7e-4 --warmup-steps 200 \
    --eval-every 500 --save-every 1000 --threads 8 --no-progress \
    ${PERFRL_DEVICE_ARGS:-} > "$out/train.log" 2>&1
status=$?
set -e
tail -n 5 "$out/train.log"
if [ ! -f "$work/ckpt/model.safetensors" ]; then
    echo "device_train: training wrote no checkpoint (exit $status); see train.log" >&2
    exit 1
fi
python3 -m perfrl_train.device_bundle pack --checkpoint "$work/ckpt" --out "$out"
