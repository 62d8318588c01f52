// The paper's GSM8K table beside a run of scripts/reproduce_paper.sh, in Markdown, from the
// JSON that `coolfusion eval --json` wrote: one row per run (each model alone, the paper's
// Cool, Rerank and Cool+R under its rule, cool-shortest when it ran, and the project's
// default), the paper's accuracy where it has one, the run's accuracy with its Wilson 95%
// interval, the paper's difference to its best single model beside the run's paired one
// (bootstrap 95% interval, eval's vs_best_single), lm-evaluation-harness's strict-match and
// flexible-extract, and seconds per row; then the fused runs against each other (eval's
// "pairwise"). Where the paper's numbers come from: docs/paper.md.
//   node scripts/paper_table.mjs EVAL.json
import { readFileSync } from 'node:fs';

// Liu et al., "Cool-Fusion: Fuse Large Language Models without Training", ACL 2025
// (arXiv 2407.19807), GSM8K test split, its ablation table (docs/paper.md: sources).
const PAPER_MODELS = 'Llama-3-8B, Phi-3-mini, GLM-4-9B';
const PAPER_SINGLES = [
  { name: 'Llama-3-8B', match: /llama[-_.]?3(?![.\d])/i, accuracy: 69.14 },
  { name: 'Phi-3-mini', match: /phi[-_.]?3(?![.\d])/i, accuracy: 68.31 },
  { name: 'GLM-4-9B', match: /glm[-_.]?4(?![.\d])/i, accuracy: 63.38 },
];
const PAPER_BEST_SINGLE = 69.14;
// The fused rows by number of models: with 3, the paper's three; with 2, its Cool2
// (Llama-3-8B + Phi-3-mini), the only two-model number it gives.
const PAPER_FUSED = {
  3: {
    cool: { accuracy: 74.68, note: 'Cool' },
    'cool-shortest': { accuracy: 74.45, note: 'Cool, shortest segments' },
    rerank: { accuracy: 77.79, note: 'Rerank3' },
    'cool+r': { accuracy: 81.2, note: 'Cool+R' },
  },
  2: { cool: { accuracy: 72.33, note: 'Cool2: Llama-3-8B + Phi-3-mini' } },
};

const [jsonPath] = process.argv.slice(2);
if (!jsonPath) {
  console.error('usage: node scripts/paper_table.mjs EVAL.json');
  process.exit(1);
}
const doc = JSON.parse(readFileSync(jsonPath, 'utf8'));
const results = doc.results;
const singles = results.filter((r) => r.method === 'single');
if (singles.length < 2) throw new Error(`${jsonPath}: fewer than two single runs`);
const nModels = singles.length;

const pct = (x) => (100 * x).toFixed(2);
const pct1 = (x) => (100 * x).toFixed(1);
const signed = (x, digits = 1) => (x >= 0 ? '+' : '') + x.toFixed(digits);
const base = (p) => p.split('/').pop();

function paperSingle(r) {
  const file = base(r.models[0]);
  return PAPER_SINGLES.find((s) => s.match.test(file)) ?? null;
}
// The paper's number for a run, or null: its fused rows follow the paper's rule (--score
// mean); the default (auto) and other rules have none.
function paper(r) {
  if (r.method === 'single') {
    const s = paperSingle(r);
    return s ? { accuracy: s.accuracy, note: s.name } : null;
  }
  if (r.score !== 'mean') return null;
  const row = PAPER_FUSED[nModels]?.[r.method] ?? null;
  // Cool2 was Llama-3-8B + Phi-3-mini: a pair whose file names name another model has none.
  if (row && nModels === 2 && singles.some((x) => paperSingle(x)?.name === 'GLM-4-9B')) return null;
  return row;
}
function name(r) {
  if (r.method === 'single') return `single ${base(r.models[0])}`;
  if (r.default) return `${r.label}: this project's default`;
  if (r.score === 'mean') return `${r.label}: the paper's rule`;
  return r.label;
}

const bestLabel = doc.singles_analysis?.best_single
  ?? singles.reduce((a, b) => (b.correct > a.correct ? b : a)).label;
const n = results[0].n;
const lines = [];
lines.push(`${n} rows of ${doc.data} (task ${doc.task}), ${doc.few_shot}-shot; the paper: GSM8K test, Liu et al.`
  + ` (ACL 2025) on ${PAPER_MODELS}`);
lines.push('');
lines.push('| run | paper | this run, % [95% CI] | paper vs its best single | this run vs best single [paired 95% CI] | strict-match | flexible-extract | s/row |');
lines.push('|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const p = paper(r);
  const paperCell = p ? `${p.accuracy.toFixed(2)} (${p.note})` : '—';
  const run = `${pct(r.accuracy)} [${pct1(r.ci95[0])}, ${pct1(r.ci95[1])}]`;
  let paperDiff = '';
  let runDiff = '';
  if (r.method === 'single') {
    if (r.label === bestLabel) runDiff = 'best single';
    if (p && p.accuracy === PAPER_BEST_SINGLE) paperDiff = 'best single';
  } else {
    paperDiff = p ? signed(p.accuracy - PAPER_BEST_SINGLE, 2) : '—';
    const v = r.vs_best_single;
    runDiff = v ? `${signed(100 * v.diff)} [${signed(100 * v.ci95[0])}, ${signed(100 * v.ci95[1])}]` : '—';
  }
  const strict = pct1(r['exact_match,strict-match']);
  const flexible = pct1(r['exact_match,flexible-extract']);
  const perRow = r.n > 0 ? (r.seconds / r.n).toFixed(2) : '—';
  lines.push(`| ${name(r)} | ${paperCell} | ${run} | ${paperDiff} | ${runDiff} | ${strict} | ${flexible} | ${perRow} |`);
}

// The fused runs against each other, paired on the same rows (a - b).
const byLabel = new Map(results.map((r) => [r.label, r]));
if ((doc.pairwise ?? []).length > 0) {
  lines.push('');
  lines.push('| a - b | paper | this run [paired 95% CI] |');
  lines.push('|---|---|---|');
  for (const q of doc.pairwise) {
    const pa = paper(byLabel.get(q.a));
    const pb = paper(byLabel.get(q.b));
    const paperCell = pa && pb ? signed(pa.accuracy - pb.accuracy, 2) : '—';
    const runCell = `${signed(100 * q.diff)} [${signed(100 * q.ci95[0])}, ${signed(100 * q.ci95[1])}]`;
    lines.push(`| ${q.a} - ${q.b} | ${paperCell} | ${runCell} |`);
  }
}
lines.push('');
lines.push(`Paper's singles: ${PAPER_SINGLES.map((s) => `${s.name} ${s.accuracy.toFixed(2)}`).join(', ')}`
  + ' (a single row shows its number when the file name names the model). The paper gives no'
  + ' intervals; its numbers are for its models, a reference on any others.'
  + ` This run: accuracy = eval's answer (after "####", else the last number), Wilson interval;`
  + ' paired differences: bootstrap over the same rows; strict-match and flexible-extract:'
  + " lm-evaluation-harness's gsm8k filters.");
console.log(lines.join('\n'));
