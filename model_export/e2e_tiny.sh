#!/usr/bin/env bash
# Tiny end-to-end run of the whole pipeline: data -> SFT -> RRHF -> export (x2) -> eval.
# Finishes in a few minutes on a 2-core CPU; the figures only show that every stage works
# (a tiny model trained for a minute writes little valid code).
# Usage: model_export/e2e_tiny.sh [WORK_DIR]   (default: a new temp dir)
set -euo pipefail
WORK="${1:-$(mktemp -d /tmp/perfrl-e2e-XXXX)}"
mkdir -p "$WORK"
export PERFRL_CACHE="${PERFRL_CACHE:-$WORK/cache}"
T0=$(date +%s)
stamp() { echo "[e2e +$(( $(date +%s) - T0 ))s] $*"; }

stamp "data"
perfrl-train data --out "$WORK/data" --n-synthetic 120 --seed 0 --max-deopt-modules 10

stamp "sft"
perfrl-train sft --data "$WORK/data" --out "$WORK/sft" --from-config tiny --max-steps 80 \
    --batch-size 8 --lr 3e-3 --warmup-steps 8 --eval-every 40 --log-every 10 \
    --max-source-length 256 --max-target-length 192 --max-stdlib-files 200 \
    --no-bf16 --threads 1 --no-progress

stamp "rrhf"
perfrl-train rrhf --checkpoint "$WORK/sft" --data "$WORK/data" --out "$WORK/rrhf" \
    --max-steps 6 --samples 3 --max-new-tokens 96 --max-source-length 256 --lr 1e-4 \
    --warmup-steps 1 --max-engine-calls 40 --threads 1 --no-progress

for stage in sft rrhf; do
    stamp "export $stage"
    perfrl-train export --checkpoint "$WORK/$stage" --out "$WORK/model-$stage" \
        --parity-file "$WORK/data/valid.jsonl" --parity-prompts 4 --threads 1
done

stamp "eval"
PIE_ARGS=()
PIE_DIR="${PERFRL_PIE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/../shared/data/pie-python}"
if [ -f "$PIE_DIR/test.jsonl" ]; then
    PIE_ARGS=(--pie-dir "$PIE_DIR" --pie-limit 3 --pie-tests 2 --pie-repeats 3)
fi
perfrl-train eval --model "sft=$WORK/model-sft" "sft+rrhf=$WORK/model-rrhf" \
    --test-file "$WORK/data/test.jsonl" --limit 4 --samples 4 --max-new-tokens 96 \
    "${PIE_ARGS[@]}" --out "$WORK/eval"
cat "$WORK/eval/eval.md"
stamp "done: $WORK"
