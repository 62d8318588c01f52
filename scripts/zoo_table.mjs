// Summary tables of scripts/eval_zoo.sh, in Markdown, from the JSON that `coolfusion eval`
// wrote: accuracy of each fused run and its paired difference to the best single model
// of its setting (95% bootstrap interval), per setting and data set; then every method side
// by side (NAME-peers.json, NAME-gacgate.json): accuracy, paired differences to the best
// single model and to the default (cool, auto), tokens per second and the share of
// positions fused.
//   node scripts/zoo_table.mjs DIR "SETTING ..."
import { readFileSync, existsSync } from 'node:fs';

const [dir, orderArg] = process.argv.slice(2);
const order = orderArg.split(/\s+/).filter(Boolean);
const names = {
  abc: 'A+B+C', ab: 'A+B', ac: 'A+C', bc: 'B+C', 'b+s': 'B + stories260K (off-domain)',
  'abc+s': 'A+B+C + stories260K', aa: 'A + A', 'b+w': 'B + B-weak (unequal skill)',
  'b+d': 'B + aidreams260K (off-domain)', 'abc+r': 'A+B+C + rand-gpt-2 (random weights)',
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
function table(title, settings, prefix, cols, extra = null) {
  const out = [`**${title}**`, '', `| setting | best single | ${cols.map((c) => c[0]).join(' | ')} |`,
    `|---|---|${cols.map(() => '---').join('|')}|`];
  for (const s of settings) {
    const doc = load(`${prefix}${s}`);
    if (!doc) continue;
    const more = extra ? load(`${prefix}${s}${extra}`) : null;
    const b = bestSingle(doc);
    const row = cols.map(([, label, fromExtra]) => cell(fromExtra ? more : doc, label));
    out.push(`| ${names[s] || s} | ${pct(b.accuracy)} (${b.label.replace('single ', '')}) | ${row.join(' | ')} |`);
  }
  return out.join('\n') + '\n';
}
const rules = ['auto', 'mean', 'geomean', 'sweetspan', 'median'];
const coolCols = rules.map((r) => [r === 'auto' ? 'cool, **auto (default)**' : `cool, ${r}`, `cool (${r})`]);
const n = (p) => load(p)?.n_rows ?? '?';
console.log('Accuracy in %, and in parentheses the paired difference to the best single model on the same rows ' +
  '(points, 95% bootstrap interval).\n');
console.log(table(`arith3 test split (${n('arith3-abc')} problems)`, order, 'arith3-',
  [...coolCols, ['cool+r, auto', 'cool+r (auto)', true], ['cool+r, mean', 'cool+r (mean)', true]], '-r'));
console.log(table(`facts3 (${n('facts3-abc')} questions)`, order, 'facts3-',
  [...coolCols, ['cool+r, auto', 'cool+r (auto)'], ['cool+r, mean', 'cool+r (mean)']]));
console.log(table(`fresh arith3 split (another seed, ${n('fresh-abc')} problems)`, [...order, 'b+d', 'abc+r'], 'fresh-',
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
for (const [title, prefix] of [[`arith3 test split (${n('arith3-abc-peers')} problems)`, 'arith3-'],
  [`facts3 (${n('facts3-abc-peers')} questions)`, 'facts3-'], [`fresh arith3 split (${n('fresh-abc-peers')} problems)`, 'fresh-']]) {
  const t = peerTables(title, prefix, order);
  if (t) console.log(t);
}
const temps = ['0.05', '0.1', '0.25', '0.5', '1', '2'];
const sweep = ['**prompt-weight temperature** (`--prompt-temp`, bits per byte; cool, auto)', '',
  '| T | facts3, A+B+C | arith3, B + B-weak |', '|---|---|---|'];
for (const t of temps) {
  const f = load(`sweep-facts3-abc-${t}`), w = load(`sweep-arith3-b+w-${t}`);
  if (f || w) sweep.push(`| ${t} | ${cell(f, 'cool')} | ${cell(w, 'cool')} |`);
}
console.log(sweep.join('\n'));
