#!/usr/bin/env bash
# Measures the committed zoo (models/) with `coolfusion eval`: every accuracy table and
# chart in docs/zoo.md comes from this command.
#   scripts/eval_zoo.sh [OUT_DIR]           (default docs/zoo; tables also on stdout)
# Settings (each one `coolfusion eval` per data set; A, B, C = models/arith3-{a,b,c}.gguf,
# W = models/arith3-b-weak.gguf, S = stories260K, a model of children's stories):
#   abc, ab, ac, bc        complementary skills (each operation known to two of A, B, C)
#   b+s, abc+s             an off-domain model added (no harm allowed)
#   aa                     a model with itself (identity)
#   b+w                    unequal skill on the same operations (B and a weaker B)
# Each setting runs on data/arith3/test.jsonl (600) and data/facts3/test.jsonl (60): each
# model alone, Cool under every scoring rule (auto = the default, mean = the paper's,
# geomean, sweetspan, median), Cool+R under auto and mean; every fused run is compared
# with the best single model of its setting on the same rows (paired bootstrap 95% CI).
# Then the same under auto and mean on a fresh arith3 split (another seed,
# COOLFUSION_EVAL_SEED, default 4242), with two more off-domain models (aidreams260K and a
# random-weight GPT-2-vocabulary model), and a sweep of the prompt-weight temperature.
# Methods side by side (issue 23): on abc, ab, ac, bc, b+s and b+w, on the arith3 test split,
# facts3 and the fresh split, one eval each with every method (single, cool, cool+r and the
# peer methods unite, gac, adafuse, safe; NAME-peers) and gac once more with --gate 0.5
# (NAME-gacgate, beside the singles and the default): accuracy, paired differences to the
# best single and to the default (cool, auto), tokens per second, share of positions fused.
# The overlap zoo (issue 25; OA, OB, OC = models/overlap-{a,b,c}.gguf, each trained on all
# three operations, OW = models/overlap-weak.gguf, a weaker model of the same skills):
#   oabc                   the overlap triple (overlapping skills, their own mistakes)
#   oab, oac, obc          each overlap pair
#   oabc+w                 the triple + the weak partner
#   oa+w                   overlap-a + the weak partner (the other best + weak pair)
#   obest+w                the best overlap model + the weak partner (the best: the most
#                          accurate single of oabc on the arith3 test split, read from its JSON
#                          when that eval is done; COOLFUSION_OVERLAP_BEST=a|b|c fixes it)
#   oabc+s                 the triple + stories260K (off-domain)
# each on the arith3 test split and the fresh split with the first zoo's runs (every rule
# on the test split, cool+r under auto and mean, every method, gac --gate 0.5); no facts3
# (the overlap models know arithmetic only). Every eval with two or more singles also
# reports the oracle, the vote and the overlap of the singles' mistakes (singles_analysis).
# When the overlap models are missing, these settings are skipped with a notice;
# COOLFUSION_OVERLAP_DIR=DIR takes them from DIR instead of models/ (e.g. retrained with
# other seeds).
# COOLFUSION_EVAL_ONLY=overlap runs only the overlap settings, =zoo only the first zoo's;
# The spread zoo (issue 34; SA, SB, SC = models/spread-{a,b,c}.gguf, SBL =
# models/spread-b-low.gguf, the first spread-b: the same three
# tokenizers, trained on the same rows, skills spread, mistakes that go together):
#   sabc                   the spread triple
#   sa+sc                  its best and its weakest
#   sablc                  the triple with spread-b-low (37.7%) for spread-b: the triple
#                          where the default gains least (about a point)
# on the arith3 test split and the fresh split, as the overlap settings (skipped with a
# notice when the models are missing; sablc alone when only spread-b-low is).
# COOLFUSION_EVAL_JOBS=peers runs only the methods side by side (the *-peers and *-gacgate
# evals: every method under its defaults, the default among them), the table of issue 34;
# COOLFUSION_EVAL_NAMES=REGEX keeps only the evals whose name (as arith3-oab-peers) it
# matches (grep -E);
# the summary has the rows of every setting whose JSON is in the eval folder.
# Summary tables: build/eval/summary.md (scripts/zoo_table.mjs; COOLFUSION_EVAL_DIR moves
# build/eval). About 30 minutes here
# (two evals at a time). COOLFUSION_EVAL_LIMIT=N evaluates only the first N rows (a quick look).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-docs/zoo}
bin=${COOLFUSION_BIN:-build/bin}
shared=${COOLFUSION_SHARED_MODELS:-../shared/data/models}
seed=${COOLFUSION_EVAL_SEED:-4242}
limit=()
[ -n "${COOLFUSION_EVAL_LIMIT:-}" ] && limit=(--limit "$COOLFUSION_EVAL_LIMIT")
evdir=${COOLFUSION_EVAL_DIR:-build/eval}
mkdir -p "$out" "$evdir"
A=models/arith3-a.gguf B=models/arith3-b.gguf C=models/arith3-c.gguf W=models/arith3-b-weak.gguf
S=$shared/stories260K.gguf D=$shared/aidreams260K.gguf R=build/models/rand-gpt-2.gguf
odir=${COOLFUSION_OVERLAP_DIR:-models}  # another folder: models retrained from the recipe
OA=$odir/overlap-a.gguf OB=$odir/overlap-b.gguf OC=$odir/overlap-c.gguf OW=$odir/overlap-weak.gguf
SA=models/spread-a.gguf SB=models/spread-b.gguf SC=models/spread-c.gguf SBL=models/spread-b-low.gguf
only=${COOLFUSION_EVAL_ONLY:-}
case $only in
  ''|zoo|overlap) ;;
  *) echo "error: COOLFUSION_EVAL_ONLY=$only: want overlap or zoo (or unset: both)" >&2; exit 1 ;;
esac
zoo=1 overlap=1
[ "$only" = overlap ] && zoo=0
[ "$only" = zoo ] && overlap=0
need=("$S")
[ $zoo = 1 ] && need+=("$A" "$B" "$C" "$W" "$D" "$R")
for m in "${need[@]}"; do [ -f "$m" ] || { echo "error: $m missing (scripts/setup.sh, scripts/make_zoo.sh)" >&2; exit 1; }; done
if [ $overlap = 1 ] && { ! [ -f $OA ] || ! [ -f $OB ] || ! [ -f $OC ] || ! [ -f $OW ]; }; then
  [ $zoo = 0 ] && { echo "error: $odir/overlap-{a,b,c,weak}.gguf missing (scripts/make_zoo.sh)" >&2; exit 1; }
  echo "note: $odir/overlap-{a,b,c,weak}.gguf missing (scripts/make_zoo.sh): overlap settings skipped" >&2
  overlap=0
fi

ev() {  # NAME ARGS...: one eval (one thread per model); table in $evdir/NAME.txt,
        # JSON with every prediction in $evdir/NAME.json, chart in OUT/NAME.svg
  local name=$1; shift
  rm -f "$evdir/$name.done" "$evdir/$name.failed"
  local svg=(--svg "$out/$name.svg")
  case $name in *-r|*-gacgate|fresh-*|sweep-*) svg=() ;; esac  # charts for the main tables only
  { echo "== $name: coolfusion eval $*"
    "$bin/coolfusion" eval -t 1 -n 32 "${limit[@]}" --json "$evdir/$name.json" "${svg[@]}" "$@" \
      2> "$evdir/$name.log"
  } > "$evdir/$name.txt" || { touch "$evdir/$name.failed"; cat "$evdir/$name.txt"; tail -n 5 "$evdir/$name.log" >&2; return 1; }
  touch "$evdir/$name.done"
}
best_overlap() {  # the overlap model of the best single accuracy in arith3-oabc (first on ties)
  if [ -n "${COOLFUSION_OVERLAP_BEST:-}" ]; then echo "$odir/overlap-$COOLFUSION_OVERLAP_BEST.gguf"; return; fi
  local j=$evdir/arith3-oabc
  [ "${COOLFUSION_EVAL_JOBS:-all}" = peers ] && j=$evdir/arith3-oabc-peers
  while ! [ -f "$j.done" ] && ! [ -f "$j.failed" ]; do sleep 5; done  # queued before, so running
  if [ -f "$j.done" ]; then
    node -e 'let b = null;
      for (const r of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results)
        if (r.method === "single" && (!b || r.correct > b.correct)) b = r;
      console.log(b.models[0]);' "$j.json"
  else
    echo "$OA"
  fi
}
models() { local a=(); for m in "$@"; do a+=(-m "$m"); done; echo "${a[@]}"; }
declare -A set=([abc]="$A $B $C" [ab]="$A $B" [ac]="$A $C" [bc]="$B $C" [b+s]="$B $S" [abc+s]="$A $B $C $S"
                [aa]="$A $A" [b+w]="$B $W")
order=(abc ab ac bc b+s abc+s aa b+w)
set+=([oabc]="$OA $OB $OC" [oab]="$OA $OB" [oac]="$OA $OC" [obc]="$OB $OC" [oabc+w]="$OA $OB $OC $OW"
      [oabc+s]="$OA $OB $OC $S" [oa+w]="$OA $OW")
overlap_order=(oabc oab oac obc oabc+w oa+w obest+w oabc+s)
set+=([sabc]="$SA $SB $SC" [sa+sc]="$SA $SC" [sablc]="$SA $SBL $SC")
spread_order=(sabc sa+sc sablc)
spread=1
if ! [ -f "$SA" ] || ! [ -f "$SB" ] || ! [ -f "$SC" ]; then
  echo "note: models/spread-{a,b,c}.gguf missing (scripts/make_zoo.sh spread): spread settings skipped" >&2
  spread=0
elif ! [ -f "$SBL" ]; then
  echo "note: $SBL missing (scripts/make_zoo.sh spread-b-low): sablc skipped" >&2
  spread_order=(sabc sa+sc)
fi
[ "$only" = zoo ] && spread=0
rules=auto,mean,geomean,sweetspan,median
peer_order=(abc ab ac bc b+s b+w)
all_methods=single,cool,cool+r,unite,gac,adafuse,safe

"$bin/coolfusion-make-task" arith3 --seed "$seed" --n 600 > "$evdir/arith3-seed$seed.jsonl"
jobs_list=()
overlap_jobs() {  # SETTING MODEL-ARGS: the overlap settings' evals (the arith3 test split, then the fresh one)
  local s=$1 ms=$2 d p f
  for d in arith3:data/arith3/test.jsonl fresh:$evdir/arith3-seed$seed.jsonl; do
    p=${d%%:*} f=${d#*:}
    if [ "$p" = arith3 ]; then
      jobs_list+=("ev $p-$s --data $f $ms --method single,cool --score $rules")
      jobs_list+=("ev $p-$s-r --data $f $ms --method single,cool+r --score auto,mean")
    else
      jobs_list+=("ev $p-$s --data $f $ms --method single,cool,cool+r --score auto,mean")
    fi
    jobs_list+=("ev $p-$s-peers --data $f $ms --method $all_methods")
    jobs_list+=("ev $p-$s-gacgate --data $f $ms --method single,gac --gate 0.5")
  done
}
if [ $overlap = 1 ]; then
  rm -f "$evdir/arith3-oabc.done" "$evdir/arith3-oabc.failed"
  for s in "${overlap_order[@]}"; do
    # shellcheck disable=SC2046,SC2086
    [ "$s" = obest+w ] || overlap_jobs "$s" "$(models ${set[$s]})"
  done
fi
if [ $spread = 1 ]; then
  for s in "${spread_order[@]}"; do
    # shellcheck disable=SC2046,SC2086
    overlap_jobs "$s" "$(models ${set[$s]})"
  done
fi
if [ $zoo = 1 ]; then
  for s in "${order[@]}"; do
    # shellcheck disable=SC2046
    jobs_list+=("ev arith3-$s --data data/arith3/test.jsonl $(models ${set[$s]}) --method single,cool --score $rules")
    jobs_list+=("ev arith3-$s-r --data data/arith3/test.jsonl $(models ${set[$s]}) --method single,cool+r --score auto,mean")
    jobs_list+=("ev facts3-$s --data data/facts3/test.jsonl $(models ${set[$s]}) --method single,cool,cool+r --score $rules")
    jobs_list+=("ev fresh-$s --data $evdir/arith3-seed$seed.jsonl $(models ${set[$s]}) --method single,cool,cool+r --score auto,mean")
  done
  for s in "${peer_order[@]}"; do
    for d in arith3:data/arith3/test.jsonl facts3:data/facts3/test.jsonl fresh:$evdir/arith3-seed$seed.jsonl; do
      # shellcheck disable=SC2046
      jobs_list+=("ev ${d%%:*}-$s-peers --data ${d#*:} $(models ${set[$s]}) --method $all_methods")
      # shellcheck disable=SC2046
      jobs_list+=("ev ${d%%:*}-$s-gacgate --data ${d#*:} $(models ${set[$s]}) --method single,gac --gate 0.5")
    done
  done
  jobs_list+=("ev fresh-b+d --data $evdir/arith3-seed$seed.jsonl $(models $B $D) --method single,cool,cool+r --score auto,mean")
  jobs_list+=("ev fresh-abc+r --data $evdir/arith3-seed$seed.jsonl $(models $A $B $C $R) --method single,cool,cool+r --score auto,mean")
  for t in 0.05 0.1 0.25 0.5 1 2; do
    jobs_list+=("ev sweep-facts3-abc-$t --data data/facts3/test.jsonl $(models $A $B $C) --method single,cool --score auto --prompt-temp $t")
    jobs_list+=("ev sweep-arith3-b+w-$t --data data/arith3/test.jsonl $(models $B $W) --method single,cool --score auto --prompt-temp $t")
  done
fi
# obest+w last: its models are chosen when its jobs run (best_overlap waits for arith3-oabc,
# the first job of the list, to be done), so the quotes keep $(...) for then.
# shellcheck disable=SC2016
if [ $overlap = 1 ]; then overlap_jobs obest+w '$(models "$(best_overlap)" "$OW")'; fi
case ${COOLFUSION_EVAL_JOBS:-all} in
  all) ;;
  peers)
    kept=()
    for cmd in "${jobs_list[@]}"; do
      case $cmd in "ev "*-peers" "*|"ev "*-gacgate" "*) kept+=("$cmd") ;; esac
    done
    jobs_list=("${kept[@]}") ;;
  *) echo "error: COOLFUSION_EVAL_JOBS=$COOLFUSION_EVAL_JOBS: want peers (or unset: all)" >&2; exit 1 ;;
esac
if [ -n "${COOLFUSION_EVAL_NAMES:-}" ]; then
  kept=()
  for cmd in "${jobs_list[@]}"; do
    name=${cmd#ev }
    name=${name%% *}
    if grep -Eq -- "$COOLFUSION_EVAL_NAMES" <<<"$name"; then kept+=("$cmd"); fi
  done
  jobs_list=("${kept[@]}")
fi
# Two lanes (each eval is one process with one thread per model).
lanes=${COOLFUSION_EVAL_LANES:-2}
for cmd in "${jobs_list[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$lanes" ]; do wait -n; done
  eval "$cmd" &
done
wait
node scripts/zoo_table.mjs "$evdir" "${order[*]}" "${overlap_order[*]} ${spread_order[*]}" > "$evdir/summary.md"
cat "$evdir/summary.md"
echo "charts in $out/, tables in $evdir/*.txt, JSON (with every prediction) in $evdir/*.json"
