#!/usr/bin/env bash
# One GPU lease of the default model v2 (neural renderer): render the data on the machine's
# cores, then continue the newest committed training pack (renderer 3's z layout, with its trained
# directions: PACK, by default training/default_v3_run.safetensors, the shipped model's and the newest
# (1653.1 kimg)) in two variants side by side on
# the one GPU (A: L1 + edges + classifier features + the classifier's label loss + the Laplacian
# sharpness term and the coarse map's noise supervision, as on the CPU; B: the same
# plus an adversarial term from a z-conditioned patch discriminator), and leave each variant's
# pack, log and sample grid in $OUT. A_ARGS / B_ARGS replace the variants' own arguments; C_ARGS,
# when set, adds a third variant (e.g. C_ARGS="--attr-weight 0.01 --channels-at 64:48,128:24": the pack
# widened at 64 and 128 px, see explorer/training/widen.py; or C_ARGS=edit: A plus edit supervision of
# the directions, whose learned vectors land in $OUT/C_directions.json; see edit_supervision.py: its
# targets are rendered on the CPU, 8 per supervised step, so keep --edit-prob low on a GPU; or
# C_ARGS=noise: A with the noise supervision on every step instead of a quarter, see
# noise_supervision.py and the card's "Session of 2026-12-02, evening" and "night").
#
#   OUT=/tmp/out MINUTES=6.5 bash training/gpu_renderer_session.sh           # the device run
#   OUT=/tmp/out MINUTES=0.2 COUNT=256 DEVICE=cpu BATCH=8 bash training/gpu_renderer_session.sh  # dry run
#
# Runs under the machine's own python3 with the project on PYTHONPATH (nothing to install).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
OUT=${OUT:?set OUT}
DEVICE=${DEVICE:-cuda}
COUNT=${COUNT:-60000}
MINUTES=${MINUTES:-6.5}
BATCH=${BATCH:-64}
ADV=${ADV:-0.05}
WORK=${WORK:-/tmp/nr_gpu}
CORES=$(nproc)
mkdir -p "$OUT" "$WORK"
DATA=$WORK/faces128v2.lef
PACK=${PACK:-training/default_v3_run.safetensors}
COMMON=(--data "$DATA" --warm-start "$PACK" --renderer-version 3 --device "$DEVICE"
        --preload $(( CORES > 4 ? CORES / 2 - 1 : 1 )) --batch "$BATCH" --kimg 100000 --minutes "$MINUTES"
        --snapshot-minutes 2 --progress-seconds 20 --edge-weight 1.0 --feature-weight 0.5
        --feature-classifier resources/attribute_classifier.safetensors --warmup-kimg 20)
# the CPU recipe's terms; the Laplacian term: 3-6x the first-difference one's sharpness per kimg at the
# same L1 (CPU pilots, 2026-12-02; weight 4.5 reaches 0.6 sooner but misdraws the eyes, 6 over-draws)
# the coarse map's noise supervision keeps what the shipped model learned of it (1558.8 -> 1653.1 kimg
# on the CPU, every step); its targets are drawn on the CPU, so a quarter of the steps here
NOISE="--noise-weight 10 --noise-items 8 --noise-floor 0.05"
RECIPE="--attr-weight 0.01 --sharp-kind laplacian --sharp-weight 3.0 --noise-prob 0.25 $NOISE"
A_ARGS=${A_ARGS:-$RECIPE}
B_ARGS=${B_ARGS:-$RECIPE --adv-weight $ADV --adv-cond --adv-crop 64 --d-channel-base 4096 --r1-gamma 0.2}
C_ARGS=${C_ARGS:-}
NAMES="A B${C_ARGS:+ C}"
[ "$C_ARGS" = edit ] && C_ARGS="$RECIPE --edit-prob 0.25 --edit-attributes \
blonde,grey_hair,glasses,sunglasses,long_hair,bald,beard,smile"
[ "$C_ARGS" = noise ] && C_ARGS="$RECIPE --noise-prob 1.0"
ts() { date +%H:%M:%S; }

echo "$(ts) $($PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")')"

# the data: renderer-2 faces, seeds 0.. (the same file as on the CPU), all cores
$PY -m explorer.cli make-faces --renderer 2 --resolution 128 --count "$COUNT" --out "$DATA" \
    --workers "$CORES" >"$WORK/make.log" 2>&1 || { tail -c 2000 "$WORK/make.log"; exit 1; }
echo "$(ts) rendered $COUNT faces"

run() {   # name, extra args...
    local name=$1; shift
    $PY -m explorer.cli train-renderer "${COMMON[@]}" --run-dir "$WORK/run$name" "$@" >"$OUT/$name.log" 2>&1
    echo "$(ts) run $name ended: $?"
    local dirs=()
    [[ " $* " == *" --edit-prob "* ]] && dirs=(--directions "$OUT/${name}_directions.json")
    $PY -m explorer.cli export-renderer --run-dir "$WORK/run$name" --out "$WORK/$name.safetensors" \
        --pack "$OUT/${name}_pack.safetensors" "${dirs[@]}" >>"$OUT/$name.log" 2>&1
}
# shellcheck disable=SC2086  # the variants' arguments are word lists
run A $A_ARGS &
# shellcheck disable=SC2086
run B $B_ARGS &
# shellcheck disable=SC2086
[ -n "$C_ARGS" ] && run C $C_ARGS &
wait
for name in $NAMES; do
    cp "$WORK/run$name/log.jsonl" "$WORK/${name}_log.jsonl" 2>/dev/null
    last=$(ls "$WORK/run$name"/samples-*.png 2>/dev/null | tail -1)
    [ -n "$last" ] && cp "$last" "$WORK/${name}_samples.png"
    tail -3 "$OUT/$name.log"
done
tar -C "$WORK" -cf "$OUT/figures.tar" $(cd "$WORK" && ls *_log.jsonl *_samples.png 2>/dev/null)
echo "$(ts) done"; ls -la "$OUT"
