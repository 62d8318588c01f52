#!/usr/bin/env bash
# The table of docs/confidence.md "Weights from solved rows": each zoo setting evaluated
# with the default and with --calibrate on the validation split, paired row by row.
#   scripts/calibrate_table.sh [OUT_DIR]        (default build/calibrate; about 20 minutes
#                                                on 2 cores, one eval at a time)
# Settings are named as in the table: s- the spread zoo (sl- with spread-b-low), o- the overlap zoo, t- the first
# zoo, on the arith3 test split; f*- the same on the fresh split (seed 4242; fz- for the
# first zoo).
# COOLFUSION_CALIBRATE_NAMES=REGEX runs only the settings whose name it matches (grep -E),
# e.g. '^f?s-abc$' for the spread triple's two rows.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-build/calibrate}
bin=${COOLFUSION_BIN:-build/bin}
shared=${COOLFUSION_SHARED_MODELS:-../shared/data/models}
mkdir -p "$out"
A=models/arith3-a.gguf B=models/arith3-b.gguf C=models/arith3-c.gguf W=models/arith3-b-weak.gguf
S=$shared/stories260K.gguf
OA=models/overlap-a.gguf OB=models/overlap-b.gguf OC=models/overlap-c.gguf OW=models/overlap-weak.gguf
SA=models/spread-a.gguf SB=models/spread-b.gguf SC=models/spread-c.gguf SBL=models/spread-b-low.gguf
# The calibration rows: a copy, so that its store (FILE.weights.json) lands in OUT_DIR.
cp data/arith3/val.jsonl "$out/val.jsonl"
"$bin/coolfusion-make-task" arith3 --seed 4242 --n 600 > "$out/fresh.jsonl"
T=data/arith3/test.jsonl F=$out/fresh.jsonl
names=()
run() {
  local name=$1 data=$2
  shift 2
  if [ -n "${COOLFUSION_CALIBRATE_NAMES:-}" ] && ! grep -qE "$COOLFUSION_CALIBRATE_NAMES" <<< "$name"; then
    return 0
  fi
  local ms=()
  for m in "$@"; do ms+=(-m "$m"); done
  "$bin/coolfusion" eval -t 1 -n 32 --data "$data" "${ms[@]}" --method single,cool \
    --json "$out/$name.base.json" > "$out/$name.base.txt" 2>&1
  "$bin/coolfusion" eval -t 1 -n 32 --data "$data" "${ms[@]}" --calibrate "$out/val.jsonl" \
    --method cool --json "$out/$name.cal.json" > "$out/$name.cal.txt" 2>&1
  names+=("$name")
  echo "$name done" >&2
}
run s-abc $T $SA $SB $SC
run fs-abc $F $SA $SB $SC
run sl-abc $T $SA $SBL $SC
run fsl-abc $F $SA $SBL $SC
run s-ac $T $SA $SC
run fs-ac $F $SA $SC
run o-abc $T $OA $OB $OC
run fo-abc $F $OA $OB $OC
run o-abcs $T $OA $OB $OC $S
run o-ab $T $OA $OB
run o-ac $T $OA $OC
run o-bc $T $OB $OC
run o-bw $T $OB $OW
run o-aw $T $OA $OW
run fo-bw $F $OB $OW
run fo-aw $F $OA $OW
run t-abc $T $A $B $C
run fz-abc $F $A $B $C
run t-bw $T $B $W
run t-bs $T $B $S
python3 scripts/calibrate_table.py "$out" "${names[@]}" | tee "$out/summary.md"
