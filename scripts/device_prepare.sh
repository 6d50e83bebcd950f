#!/usr/bin/env bash
# Prepare .device/, the bundle scripts/device_train.sh trains from on a lent accelerator:
# the Python packages the device's image has in other versions (as wheels for its Python
# 3.12, the versions this checkout's .venv runs), the training rows (only the fields
# training reads, gzipped, cut to MAX_MIB) and the shipped model's tokenizer.
#   scripts/device_prepare.sh "TRAIN.jsonl [TRAIN2.jsonl ...]" VALID.jsonl [MAX_MIB]
# The repository (about 25 MiB) and the bundle travel together within 64 MiB: keep MAX_MIB
# (default 20) so that `du -sh .device` plus the tracked files stay under it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
    echo "usage: scripts/device_prepare.sh \"TRAIN.jsonl ...\" VALID.jsonl [MAX_MIB]" >&2
    exit 2
fi
python=.venv/bin/python
bundle=.device
rm -rf "$bundle"
mkdir -p "$bundle/wheels"
versions=$("$python" - <<'PY'
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}"
               for name in ("transformers", "tokenizers", "huggingface_hub")))
PY
)
# shellcheck disable=SC2086  # one requirement per word
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$bundle/wheels" $versions
# shellcheck disable=SC2086  # TRAIN is a list of files
"$python" -m perfrl_train.device_bundle data --train $1 --valid "$2" \
    --out "$bundle/data" --max-mib "${3:-20}"
recovered=$(mktemp -d)
trap 'rm -rf "$recovered"' EXIT
"$python" -m perfrl_train.cli recover --model server/perfrl/models/default \
    --out "$recovered/ckpt" > /dev/null
mkdir -p "$bundle/tokenizer"
for f in tokenizer.json tokenizer_config.json special_tokens_map.json vocab.json merges.txt; do
    if [ -f "$recovered/ckpt/$f" ]; then cp "$recovered/ckpt/$f" "$bundle/tokenizer/"; fi
done
du -sh "$bundle" "$bundle"/*
