// Time from request to first segment with long prompts and concurrent requests (issue 32:
// a request's prompt is rendered and tokenized once, by Validate, and no tokenization runs
// while the slot pool's lock is held). One server per binary folder given, each run with
// the same requests; a table of the times and their ratio, measured in one run.
//
//   node scripts/prompt_bench.mjs [--bin DIR]... [--np N] [--tokens N] [--rounds N]
//                                 [-m MODEL]...
//
// Defaults: --bin build/bin, -np 4, prompts of about 4,000 tokens (of model 1's
// tokenizer), 4 concurrent streamed /v1/completions per round, 3 rounds after a warm-up,
// max_tokens 4, the two random-weight test models build/models/rand-{llama-spm,gpt-2}.gguf
// with -c 8192. Each request continues its own long prompt (a chat's history): the
// warm-up decodes the four prompts into the slots' caches, and each round adds a few
// words, so that what a request costs before its first segment is the work around the
// decode (rendering, tokenizing, choosing a slot) plus a few tokens, not 4,000 tokens of
// prompt. Reports, per binary folder, the median and the worst time to the first streamed
// text over every request, and the median whole-request time.
import { spawn, execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const args = process.argv.slice(2);
const bins = [], models = [];
let np = 4, tokens = 4000, rounds = 3;
for (let i = 0; i < args.length; ++i) {
  const a = args[i], v = args[i + 1];
  if (a === '--bin') { bins.push(v); ++i; }
  else if (a === '-m') { models.push(v); ++i; }
  else if (a === '--np') { np = Number(v); ++i; }
  else if (a === '--tokens') { tokens = Number(v); ++i; }
  else if (a === '--rounds') { rounds = Number(v); ++i; }
  else { console.error(`error: unknown argument ${a}`); process.exit(1); }
}
if (bins.length === 0) bins.push('build/bin');
if (models.length === 0) models.push('build/models/rand-llama-spm.gguf', 'build/models/rand-gpt-2.gguf');

// Prompts of about `tokens` tokens under model 1: counted with the CLI's tokenizer view
// (`boundaries` is not needed: /tokenize of the first server is used below).
const words = ['the', 'little', 'dog', 'ran', 'to', 'park', 'and', 'found', 'a', 'red', 'ball',
  'under', 'old', 'tree', 'where', 'birds', 'sang', 'every', 'morning', 'before', 'school'];
function prompt(seed, n) {
  let x = seed * 7919 + 1, out = [];
  for (let i = 0; i < n; ++i) { x = (x * 1103515245 + 12345) % 2147483648; out.push(words[x % words.length]); }
  return out.join(' ') + '.';
}

async function startServer(bin) {
  const port = 18000 + Math.floor(Math.random() * 2000);
  const argv = ['serve', '--port', String(port), '-np', String(np), '-c', '8192', '-t', '2'];
  for (const m of models) argv.push('-m', m);
  const p = spawn(join(bin, 'coolfusion'), argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; ++i) {
    try { if ((await fetch(url + '/health')).ok) return { p, url }; } catch {}
    if (p.exitCode !== null) throw new Error(`server exited: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not start');
}

async function one(url, text) {
  const t0 = performance.now();
  const res = await fetch(url + '/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: text, max_tokens: 4, stream: true }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let first = null, buf = '';
  const dec = new TextDecoder();
  for await (const chunk of res.body) {
    buf += dec.decode(chunk, { stream: true });
    if (first === null && /"text":"[^"]/.test(buf)) first = performance.now() - t0;
  }
  const total = performance.now() - t0;
  return { first: first ?? total, total };
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const rows = [];
let texts = null;
for (const bin of bins) {
  const { p, url } = await startServer(bin);
  try {
    if (texts === null) {  // calibrate the prompts' length once, with the first server
      texts = [];
      for (let r = 0; r < np; ++r) {
        let n = tokens, t = prompt(r + 1, n);
        const count = async (s) => (await (await fetch(url + '/tokenize', { method: 'POST',
          headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: s }) })).json()).tokens.length;
        const c = await count(t);
        n = Math.max(1, Math.round(n * tokens / c));
        t = prompt(r + 1, n);
        texts.push(t);
      }
    }
    const firsts = [], totals = [];
    for (let round = 0; round <= rounds; ++round) {
      const rs = await Promise.all(texts.map((t, i) => one(url, t + (round === 0 ? '' : ` and then ${round}`))));
      if (round === 0) continue;  // warm-up
      for (const r of rs) { firsts.push(r.first); totals.push(r.total); }
    }
    rows.push({ bin, first_median: median(firsts), first_max: Math.max(...firsts), total_median: median(totals) });
  } finally {
    p.kill('SIGTERM');
  }
}
let version = '';
try { version = execFileSync('git', ['log', '-1', '--format=%h']).toString().trim(); } catch {}
console.log(`prompt_bench (${version}): -np ${np}, ${np} concurrent requests, prompts of ~${tokens} tokens, ` +
  `${rounds} rounds, models ${models.join(' ')}`);
console.log('| binaries | first text, median ms | first text, worst ms | whole request, median ms |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.bin} | ${r.first_median.toFixed(0)} | ${r.first_max.toFixed(0)} | ${r.total_median.toFixed(0)} |`);
if (rows.length > 1)
  console.log(`ratio of medians (first text), ${rows[1].bin} / ${rows[0].bin}: ${(rows[1].first_median / rows[0].first_median).toFixed(3)}`);
