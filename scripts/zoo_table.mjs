// Summary tables of scripts/eval_zoo.sh, in Markdown, from the JSON that `coolfusion eval`
// wrote: accuracy of each fused run and its paired difference to the best single model
// of its setting (95% bootstrap interval), per setting and data set; then every method side
// by side (NAME-peers.json, NAME-gacgate.json): accuracy, paired differences to the best
// single model and to the default (cool, auto), tokens per second and the share of
// positions fused. Beside the best single model, the oracle (rows any single model gets
// right) and the vote (the singles' majority answer, with its paired difference to the best
// single), from each eval's "singles_analysis" (issue 25). The overlap zoo's settings are
// rows of the same tables, after the first zoo's.
//   node scripts/zoo_table.mjs DIR "SETTING ..." ["OVERLAP SETTING ..."]
import { readFileSync, existsSync } from 'node:fs';

const [dir, orderArg, overlapArg = ''] = process.argv.slice(2);
const order = orderArg.split(/\s+/).filter(Boolean);
const overlap = overlapArg.split(/\s+/).filter(Boolean);
const names = {
  abc: 'A+B+C', ab: 'A+B', ac: 'A+C', bc: 'B+C', 'b+s': 'B + stories260K (off-domain)',
  'abc+s': 'A+B+C + stories260K', aa: 'A + A', 'b+w': 'B + B-weak (unequal skill)',
  'b+d': 'B + aidreams260K (off-domain)', 'abc+r': 'A+B+C + rand-gpt-2 (random weights)',
  oabc: 'oA+oB+oC (overlap triple)', oab: 'oA+oB', oac: 'oA+oC', obc: 'oB+oC',
  'oabc+w': 'oA+oB+oC + o-weak', 'oa+w': 'oA + o-weak', sabc: 'sA+sB+sC (spread triple)',
  'sa+sc': 'sA + sC (spread: best + weakest)', sablc: 'sA+sB-low+sC (spread, b at 37.7%)', 'obest+w': 'best overlap + o-weak', 'oabc+s': 'oA+oB+oC + stories260K',
};
const pct = (x) => (100 * x).toFixed(1);
const signed = (x) => (x >= 0 ? '+' : '') + (100 * x).toFixed(1);

function load(name) {
  const p = `${dir}/${name}.json`;
  return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : null;
}
function bestSingle(doc) {
  let best = null;
  for (const r of doc.results) if (r.method === 'single' && (!best || r.correct > best.correct)) best = r;
  return best;
}
function cell(doc, label) {
  const r = doc?.results.find((x) => x.label === label);
  if (!r) return '';
  const v = r.vs_best_single;
  return v ? `${pct(r.accuracy)} (${signed(v.diff)} [${signed(v.ci95[0])}, ${signed(v.ci95[1])}])` : pct(r.accuracy);
}
// The oracle and the vote of the singles of `doc` (blank for an eval with one single).
function oracleVote(doc) {
  const a = doc?.singles_analysis;
  if (!a) return ['', ''];
  const v = a.vote.vs_best_single;
  return [pct(a.oracle.accuracy), `${pct(a.vote.accuracy)} (${signed(v.diff)} [${signed(v.ci95[0])}, ${signed(v.ci95[1])}])`];
}
function table(title, settings, prefix, cols, extra = null) {
  const out = [`**${title}**`, '', `| setting | best single | oracle | vote | ${cols.map((c) => c[0]).join(' | ')} |`,
    `|---|---|---|---|${cols.map(() => '---').join('|')}|`];
  for (const s of settings) {
    const doc = load(`${prefix}${s}`);
    if (!doc) continue;
    const more = extra ? load(`${prefix}${s}${extra}`) : null;
    const b = bestSingle(doc);
    const row = cols.map(([, label, fromExtra]) => cell(fromExtra ? more : doc, label));
    out.push(`| ${names[s] || s} | ${pct(b.accuracy)} (${b.label.replace('single ', '')}) | ${oracleVote(doc).join(' | ')} | ${row.join(' | ')} |`);
  }
  return out.length > 4 ? out.join('\n') + '\n' : '';
}
const rules = ['auto', 'mean', 'geomean', 'sweetspan', 'median'];
const coolCols = rules.map((r) => [r === 'auto' ? 'cool, **auto (default)**' : `cool, ${r}`, `cool (${r})`]);
// The number of rows of the first of these evals that was run.
const n = (...ps) => ps.map((p) => load(p)?.n_rows).find((x) => x != null) ?? '?';
const all = [...order, ...overlap];
const print = (t) => t && console.log(t);
console.log('Accuracy in %, and in parentheses the paired difference to the best single model on the same rows ' +
  '(points, 95% bootstrap interval). Oracle: rows any single model of the setting gets right; vote: the ' +
  "singles' majority answer (ties to the more accurate), with its paired difference to the best single.\n");
print(table(`arith3 test split (${n(...all.map((s) => `arith3-${s}`))} problems)`, all, 'arith3-',
  [...coolCols, ['cool+r, auto', 'cool+r (auto)', true], ['cool+r, mean', 'cool+r (mean)', true]], '-r'));
print(table(`facts3 (${n(...all.map((s) => `facts3-${s}`))} questions)`, all, 'facts3-',
  [...coolCols, ['cool+r, auto', 'cool+r (auto)'], ['cool+r, mean', 'cool+r (mean)']]));
const fresh = [...order, 'b+d', 'abc+r', ...overlap];
print(table(`fresh arith3 split (another seed, ${n(...fresh.map((s) => `fresh-${s}`))} problems)`, fresh, 'fresh-',
  [['cool, **auto (default)**', 'cool (auto)'], ['cool, mean', 'cool (mean)'], ['cool+r, auto', 'cool+r (auto)'],
    ['cool+r, mean', 'cool+r (mean)']]));
// Methods side by side: each method's accuracy, its paired difference to the best single and
// to the default, and (a second table) tokens per second and the share of positions fused.
const peerCols = [['cool, **auto (default)**', 'cool'], ['cool+r', 'cool+r'], ['unite', 'unite'], ['gac', 'gac'],
  ['gac, --gate 0.5', 'gac', true], ['adafuse', 'adafuse'], ['safe', 'safe']];
const diff = (v) => (v ? `${signed(v.diff)} [${signed(v.ci95[0])}, ${signed(v.ci95[1])}]` : '');
function peerRow(doc, label) {
  return doc?.results.find((x) => x.label === label || (label === 'cool' && x.label === doc.default)) ?? null;
}
function peerTables(title, prefix, settings) {
  const acc = [`**Methods side by side: ${title}**`, '',
    'Accuracy in %; in parentheses the paired difference to the best single model, then to the default ' +
    "(points, 95% bootstrap interval); the default's cell has the first only.", '',
    `| setting | best single | ${peerCols.map((c) => c[0]).join(' | ')} |`, `|---|---|${peerCols.map(() => '---').join('|')}|`];
  const speed = [`**Speed: ${title}**`, '',
    "New tokens per second on the same rows (model 0's tokens; eval: one thread per model, one row at a time), " +
    'and for the peer methods the share of positions where the ensemble decided.', '',
    `| setting | ${['best single', ...peerCols.map((c) => c[0])].join(' | ')} |`, `|---|${peerCols.map(() => '---').join('|')}|---|`];
  for (const s of settings) {
    const doc = load(`${prefix}${s}-peers`);
    if (!doc) continue;
    const gate = load(`${prefix}${s}-gacgate`);
    const b = bestSingle(doc);
    const cells = [], speeds = [];
    for (const [, label, fromGate] of peerCols) {
      const r = peerRow(fromGate ? gate : doc, label);
      if (!r) {
        cells.push('');
        speeds.push('');
        continue;
      }
      const errs = r.errors ? ` (${r.errors} errors)` : '';
      const vs = [diff(r.vs_best_single), diff(r.vs_default)].filter(Boolean).join('; ');
      cells.push(`${pct(r.accuracy)}${vs ? ` (${vs})` : ''}${errs}`);
      const fused = r.fused_share == null ? '' : `, ${pct(r.fused_share)}% fused`;
      speeds.push(`${r.tokens_per_s.toFixed(0)}${fused}`);
    }
    acc.push(`| ${names[s] || s} | ${pct(b.accuracy)} (${b.label.replace('single ', '')}) | ${cells.join(' | ')} |`);
    speed.push(`| ${names[s] || s} | ${b.tokens_per_s.toFixed(0)} | ${speeds.join(' | ')} |`);
  }
  return acc.length > 6 ? acc.join('\n') + '\n\n' + speed.join('\n') + '\n' : '';
}
const peersN = (prefix) => n(...all.map((s) => `${prefix}${s}-peers`));
for (const [title, prefix] of [[`arith3 test split (${peersN('arith3-')} problems)`, 'arith3-'],
  [`facts3 (${peersN('facts3-')} questions)`, 'facts3-'], [`fresh arith3 split (${peersN('fresh-')} problems)`, 'fresh-']]) {
  const t = peerTables(title, prefix, all);
  if (t) console.log(t);
}
const temps = ['0.05', '0.1', '0.25', '0.5', '1', '2'];
const sweep = ['**prompt-weight temperature** (`--prompt-temp`, bits per byte; cool, auto)', '',
  '| T | facts3, A+B+C | arith3, B + B-weak |', '|---|---|---|'];
for (const t of temps) {
  const f = load(`sweep-facts3-abc-${t}`), w = load(`sweep-arith3-b+w-${t}`);
  if (f || w) sweep.push(`| ${t} | ${cell(f, 'cool')} | ${cell(w, 'cool')} |`);
}
if (sweep.length > 4) console.log(sweep.join('\n'));
