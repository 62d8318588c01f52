// Decode work per new token of each fusion method on *trained* text, against the singles',
// and the R those counts imply at a measured cost model (issue 23: random-weight bench
// models write random text whose segments are not a real model's, so the bench's R alone
// says little about what a method costs on real text).
//
//   node scripts/method_counts.mjs [--bench-json FILE | --ms-per-call X --ms-per-token Y]
//                                  [--methods LIST] [--limit N] [-n N] [--prompt-weights on|off]
//
// Two corpora, each in one run of the CLI per method:
//   zoo      models/arith3-{a,b,c}.gguf on data/arith3/test.jsonl (the first --limit rows,
//            default 40): one `coolfusion eval --json` with every method and each model alone
//   stories  ../shared/data/models/{stories260K,aidreams260K}.gguf on 10 story openings:
//            `coolfusion generate --json` per prompt and method, and each model alone
// For each method: decode calls and tokens decoded per new token (summed over models; new
// tokens under model 0's tokenizer, as the engine counts them), the share of positions
// ensembled (the peer methods), and the implied R = (X calls + Y tokens) per new token of
// the method / the same summed over the singles, where X ms per decode call and Y ms per
// token decoded are the cost model: given, or read from `coolfusion bench --method ... --json`
// output (the bench-size set with as many models as the corpus, else the first that has
// one). Prompt weights are off by default (as in the bench's R: every model takes part).
// About a minute here (2 cores). Output: Markdown on stdout, JSON in build/method_counts/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const bin = process.env.COOLFUSION_BIN ? join(process.env.COOLFUSION_BIN, 'coolfusion') : 'build/bin/coolfusion';
const shared = process.env.COOLFUSION_SHARED_MODELS || '../shared/data/models';

const opts = { methods: 'cool,cool+r,unite,gac,adafuse,safe', limit: '40', n: '32', 'prompt-weights': 'off' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--?/, '');
  if (!['bench-json', 'ms-per-call', 'ms-per-token', 'methods', 'limit', 'n', 'prompt-weights'].includes(k) ||
      i + 1 >= argv.length) {
    console.error(`error: unknown or incomplete argument ${argv[i]} (see the header of ${process.argv[1]})`);
    process.exit(1);
  }
  opts[k] = argv[++i];
}
const methods = opts.methods.split(',').filter((m) => m && m !== 'single');
for (const f of [bin, 'models/arith3-a.gguf', `${shared}/stories260K.gguf`]) {
  if (!existsSync(f)) {
    console.error(`error: ${f} missing (scripts/setup.sh)`);
    process.exit(1);
  }
}

// The cost model for a corpus of k models: {per_call, per_token, from}, or null.
function costModel(k) {
  if (opts['ms-per-call'] !== undefined || opts['ms-per-token'] !== undefined) {
    const c = Number(opts['ms-per-call']), t = Number(opts['ms-per-token']);
    if (!Number.isFinite(c) || !Number.isFinite(t)) {
      console.error('error: give both --ms-per-call and --ms-per-token, as numbers');
      process.exit(1);
    }
    return { per_call: c, per_token: t, from: 'given' };
  }
  if (!opts['bench-json']) return null;
  const text = readFileSync(opts['bench-json'], 'utf8');
  const at = text.startsWith('{') ? 0 : text.indexOf('\n{') + 1;
  const sets = JSON.parse(text.slice(at)).bench.filter((s) => s.cost_model);
  const pick = sets.find((s) => s.label === 'bench-size' && s.models.length === k) ||
               sets.find((s) => s.label === 'bench-size') || sets[0];
  if (!pick) {
    console.error(`error: ${opts['bench-json']} has no cost_model (run bench with --method)`);
    process.exit(1);
  }
  return { per_call: pick.cost_model.ms_per_decode_call, per_token: pick.cost_model.ms_per_token_decoded,
           from: `${opts['bench-json']}: ${pick.label}, ${pick.models.length} models` };
}

function run(args) {
  try {
    return { out: execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const line = String(e.stderr || '').trim().split('\n').pop();
    return { error: line || String(e.message) };
  }
}

const out = 'build/method_counts';
mkdirSync(out, { recursive: true });
const common = ['-t', '1', '-n', opts.n, '--prompt-weights', opts['prompt-weights']];

// Per-run sums: {label, new_tokens, decode_calls, tokens_decoded, positions, fused_positions, error}
function zoo() {
  const models = ['a', 'b', 'c'].map((x) => `models/arith3-${x}.gguf`);
  const json = `${out}/zoo.json`;
  const r = run(['eval', '--data', 'data/arith3/test.jsonl', '--limit', opts.limit, '--json', json,
    ...models.flatMap((m) => ['-m', m]), '--method', ['single', ...methods].join(','), ...common]);
  if (r.error) throw new Error(`zoo eval: ${r.error}`);
  const doc = JSON.parse(readFileSync(json, 'utf8'));
  return {
    title: `zoo: arith3 A+B+C on the first ${doc.n_rows} rows of data/arith3/test.jsonl`, k: 3,
    runs: doc.results.map((x) => ({
      label: x.label, single: x.method === 'single', ...x.counters,
      error: x.errors ? `${x.errors} of ${x.n} rows failed` : undefined,
    })),
  };
}

const storyPrompts = [
  'Once upon a time, there was a little girl named', 'One day, a small dog found a', 'Tom and his mom went to the',
  'The sun was shining and the birds were', 'Lily wanted to play with her', 'There was a big red ball in the',
  'Ben saw a cat on the', 'Sara had a new toy. It was', 'The little bird could not fly because',
  'Every morning, the old man would',
];

function stories() {
  const models = ['stories260K', 'aidreams260K'].map((x) => `${shared}/${x}.gguf`);
  const sums = (label, single) => ({ label, single, new_tokens: 0, decode_calls: 0, tokens_decoded: 0,
                                      positions: 0, fused_positions: 0 });
  const add = (s, j) => {
    s.new_tokens += j.n_new_tokens;
    for (const k of ['decode_calls', 'tokens_decoded', 'positions', 'fused_positions']) s[k] += j.counters[k] ?? 0;
  };
  const runs = models.map((m) => sums(`single ${m.split('/').pop()}`, true));
  for (const m of methods) runs.push(sums(m, false));
  for (const p of storyPrompts) {
    models.forEach((m, i) => {
      const r = run(['generate', '-m', m, '-p', p, '--json', ...common]);
      if (r.error) runs[i].error = r.error;
      else add(runs[i], JSON.parse(r.out));
    });
    methods.forEach((m, i) => {
      const s = runs[models.length + i];
      if (s.error) return;
      const r = run(['generate', ...models.flatMap((x) => ['-m', x]), '-p', p, '--method', m, '--json', ...common]);
      if (r.error) s.error = r.error;
      else add(s, JSON.parse(r.out));
    });
  }
  return { title: `stories: stories260K + aidreams260K on ${storyPrompts.length} story openings`, k: 2, runs };
}

const num = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
function report(corpus) {
  const cost = costModel(corpus.k);
  const perTok = (r) => ({ calls: r.decode_calls / r.new_tokens, tokens: r.tokens_decoded / r.new_tokens });
  const ms = (r) => (cost ? cost.per_call * perTok(r).calls + cost.per_token * perTok(r).tokens : NaN);
  const singles = corpus.runs.filter((r) => r.single && !r.error && r.new_tokens > 0);
  const singleMs = singles.reduce((a, r) => a + ms(r), 0);
  const lines = [`**${corpus.title}**`, '',
    cost ? `cost model (${cost.from}): ${num(cost.per_call, 3)} ms per decode call + ${num(cost.per_token, 4)} ms per token decoded`
         : 'no cost model given (--bench-json FILE, or --ms-per-call X --ms-per-token Y): no implied R',
    '', '| run | new tokens | decode calls / new token | tokens decoded / new token | fused % | implied R |',
    '|---|---|---|---|---|---|'];
  const rows = [];
  for (const r of corpus.runs) {
    if (r.error || !(r.new_tokens > 0)) {
      lines.push(`| ${r.label} | failed: ${r.error || 'no new tokens'} | | | | |`);
      rows.push({ label: r.label, error: r.error || 'no new tokens' });
      continue;
    }
    const t = perTok(r);
    const R = r.single ? NaN : ms(r) / singleMs;
    const fused = r.positions > 0 ? (100 * r.fused_positions) / r.positions : NaN;
    lines.push(`| ${r.label} | ${r.new_tokens} | ${num(t.calls)} | ${num(t.tokens)} | ${r.positions > 0 ? num(fused, 1) : ''} | ${r.single ? '' : num(R)} |`);
    rows.push({ ...r, decode_calls_per_new_token: t.calls, tokens_decoded_per_new_token: t.tokens,
                fused_share: r.positions > 0 ? fused / 100 : null, implied_R: r.single || !cost ? null : R });
  }
  return { md: lines.join('\n') + '\n', json: { title: corpus.title, cost_model: cost, runs: rows } };
}

const results = [];
for (const corpus of [zoo(), stories()]) {
  const r = report(corpus);
  console.log(r.md);
  results.push(r.json);
}
writeFileSync(`${out}/summary.json`, JSON.stringify(results, null, 1) + '\n');
console.log(`R = (X calls + Y tokens per new token of the method) / the same summed over the singles. JSON: ${out}/summary.json`);
