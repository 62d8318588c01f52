#!/usr/bin/env bash
# scripts/reproduce_paper.sh --dry (issue 35): the paper's GSM8K table, run on the zoo. Checks
# the table's shape: its header, one row per run (each zoo model alone, the paper's Cool,
# Rerank and Cool+R under its rule with the paper's numbers, the default) with eight cells,
# the run's accuracy with its interval, each fused run's paired difference to the best
# single with its interval, one best single, the six pairs of fused runs, and table.md the
# same as what was printed. Fails naming what is missing.
#   tests/eval/reproduce_paper_dry_test.sh OUT_DIR      (env COOLFUSION_BIN: the binaries)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: $0 OUT_DIR}
fail() { echo "FAIL: $*" >&2; exit 1; }

printed=$("$root/scripts/reproduce_paper.sh" --dry --out "$out") || fail "scripts/reproduce_paper.sh --dry exited $?"
echo "$printed"
[ "$printed" = "$(cat "$out/table.md")" ] || fail "$out/table.md differs from the printed table"

header='| run | paper | this run, % [95% CI] | paper vs its best single | this run vs best single [paired 95% CI] | strict-match | flexible-extract | s/row |'
grep -qxF -- "$header" <<<"$printed" || fail "no header line: $header"
grep -qxF -- '|---|---|---|---|---|---|---|---|' <<<"$printed" || fail "no separator line of eight columns"

# row NAME PAPER: the row whose first cell is NAME, with eight cells and PAPER as the paper's.
row() {
  local name=$1 paper=$2 line
  line=$(grep -F -- "| $name |" <<<"$printed" | head -n 1)
  [ -n "$line" ] || fail "no row for $name"
  local why
  why=$(awk -F'|' -v name="$name" -v paper="$paper" '
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    NF != 10 { print "row " name ": " NF - 2 " cells, want 8"; exit 1 }
    trim($3) != paper { print "row " name ": paper cell \"" trim($3) "\", want \"" paper "\""; exit 1 }
    trim($4) !~ /^[0-9]+\.[0-9][0-9] \[[0-9]+\.[0-9], [0-9]+\.[0-9]\]$/ {
      print "row " name ": accuracy cell \"" trim($4) "\" is not \"NN.NN [lo, hi]\""; exit 1 }
    paper != "—" && name !~ /^single / && trim($6) !~ /^[+-][0-9]+\.[0-9] \[[+-][0-9]+\.[0-9], [+-][0-9]+\.[0-9]\]$/ {
      print "row " name ": paired difference \"" trim($6) "\" is not \"+D [+lo, +hi]\""; exit 1 }
    trim($7) !~ /^[0-9]+\.[0-9]$/ || trim($8) !~ /^[0-9]+\.[0-9]$/ {
      print "row " name ": strict/flexible cells \"" trim($7) "\", \"" trim($8) "\""; exit 1 }
  ' <<<"$line") || fail "$why: $line"
}
row 'single arith3-a.gguf' '—'
row 'single arith3-b.gguf' '—'
row 'single arith3-c.gguf' '—'
row "cool (default): this project's default" '—'
row "cool (mean): the paper's rule" '74.68 (Cool)'
row "rerank (mean): the paper's rule" '77.79 (Rerank3)'
row "cool+r (mean): the paper's rule" '81.20 (Cool+R)'
grep -F -- "| cool (default): this project's default |" <<<"$printed" |
  grep -qE '\| [+-][0-9]+\.[0-9] \[[+-][0-9]+\.[0-9], [+-][0-9]+\.[0-9]\] \|' ||
  fail "the default's row has no paired difference to the best single"
best=$(grep -c '^| single .*| best single |' <<<"$printed")
[ "$best" = 1 ] || fail "$best single rows marked best single, want 1"
runs=$(grep -cE '^\| (single|cool|rerank)[^|]*\| [^|]+ \| [0-9]+\.[0-9]{2} \[' <<<"$printed")
[ "$runs" = 7 ] || fail "$runs run rows, want 7 (3 singles, the default, cool, rerank, cool+r)"
pairs=$(grep -cE '^\| [^|]+ - [^|]+ \| [^|]+ \| [+-][0-9]+\.[0-9] \[[+-][0-9]+\.[0-9], [+-][0-9]+\.[0-9]\] \|$' <<<"$printed")
[ "$pairs" = 6 ] || fail "$pairs pairs of fused runs, want 6"
grep -qF -- "| cool (mean) - cool+r (mean) | -6.52 |" <<<"$printed" || fail "no paper difference for Cool - Cool+R (-6.52)"
echo "reproduce_paper --dry: the table has every row"
