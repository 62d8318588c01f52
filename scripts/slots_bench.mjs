// Many users at once (issue 36): aggregate tokens/s and each request's latency at 1, 2, 4
// and 8 concurrent /v1/completions on `coolfusion serve -np 8` (the slots' decodes batched,
// one context per model), against `-np 1` with the same requests queued; resident memory
// of both servers; and one model served by coolfusion beside llama-server of the pinned
// llama.cpp on the same GGUF, when it is built. Every ratio comes from this one run.
//
//   node scripts/slots_bench.mjs [--bin DIR] [--set pair|triple|one]... [-n TOKENS]
//                                [--levels 1,2,4,8] [--llama-server PATH] [-t THREADS]
//                                [--quant q8_0|q4_0]
//
// Every server runs with -fa off (slots have it off on the CPU; random-weight models write
// other texts with it on, so the servers would not do the same work). Defaults: --bin build/bin, the sets pair (big-llama-spm + big-gpt-2) and triple (+
// big-qwen2) from build/models/bench (scripts/bench.sh writes them), then one
// (big-llama-spm alone at 1 and 4 concurrent, -np 4); 16 new tokens per request (32 for
// `one`, as llama-server's comparison was measured), greedy, a different prompt per
// request; llama-server from build-server/bin/llama-server when present
// (cmake -S third_party/llama.cpp -B build-server -DLLAMA_BUILD_SERVER=ON
//  -DCMAKE_BUILD_TYPE=Release && cmake --build build-server --target llama-server).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const args = process.argv.slice(2);
let bin = 'build/bin', tokens = 16, levels = [1, 2, 4, 8], llamaServer = 'build-server/bin/llama-server';
let threads = 0, quant = '';
const sets = [];
for (let i = 0; i < args.length; ++i) {
  const a = args[i], v = args[i + 1];
  if (a === '--bin') { bin = v; ++i; }
  else if (a === '--set') { sets.push(v); ++i; }
  else if (a === '-n') { tokens = Number(v); ++i; }
  else if (a === '--levels') { levels = v.split(',').map(Number); ++i; }
  else if (a === '--llama-server') { llamaServer = v; ++i; }
  else if (a === '-t') { threads = Number(v); ++i; }
  else if (a === '--quant') { quant = v; ++i; }
  else { console.error(`error: unknown argument ${a}`); process.exit(1); }
}
if (sets.length === 0) sets.push('pair', 'triple', 'one');
const big = 'build/models/bench';
// --quant q8_0|q4_0: the same models quantized (made here from the same shapes and seed
// when missing); f16 (scripts/bench.sh's) by default.
const shapes = {  // vocab dim layers heads kv_heads ff, as scripts/bench.sh makes them
  'big-llama-spm': ['llama-spm', 1536, 17, 16, 4, 4096],
  'big-gpt-2': ['gpt-2', 1280, 21, 16, 4, 3584],
  'big-qwen2': ['qwen2', 1024, 18, 16, 4, 2816],
};
function model(name) {
  if (!quant) return `${big}/${name}.gguf`;
  const path = `${big}/${name}-${quant}.gguf`;
  if (!existsSync(path)) {
    const [vocab, dim, layers, heads, kv, ff] = shapes[name];
    execFileSync(join(bin, 'coolfusion-make-model'), ['--vocab', `third_party/llama.cpp/models/ggml-vocab-${vocab}.gguf`,
      '--out', path, '--dim', String(dim), '--layers', String(layers), '--heads', String(heads), '--kv-heads', String(kv),
      '--ff', String(ff), '--ctx', '2048', '--type', quant, '--std', '0.02', '--seed', '3', '--name', name], { stdio: 'inherit' });
  }
  return path;
}
const models = {
  pair: () => [model('big-llama-spm'), model('big-gpt-2')],
  triple: () => [model('big-llama-spm'), model('big-gpt-2'), model('big-qwen2')],
  one: () => [model('big-llama-spm')],
};
for (const s of sets) {
  if (!models[s]) { console.error(`error: unknown set ${s} (pair, triple, one)`); process.exit(1); }
  for (const m of models[s]()) {
    if (!existsSync(m)) { console.error(`error: ${m} is missing: run scripts/bench.sh once`); process.exit(1); }
  }
}

const words = ['the', 'little', 'dog', 'ran', 'to', 'park', 'and', 'found', 'a', 'red', 'ball',
  'under', 'old', 'tree', 'where', 'birds', 'sang', 'every', 'morning', 'before', 'school'];
// The i-th prompt of a level: every server gets the same requests at each level.
let promptSeed = 1;
function prompt(seed = promptSeed++) {
  let x = seed * 7919 + 1, out = [];
  for (let i = 0; i < 12; ++i) { x = (x * 1103515245 + 12345) % 2147483648; out.push(words[x % words.length]); }
  return out.join(' ');
}

async function start(cmd, argv) {
  const port = 18000 + Math.floor(Math.random() * 4000);
  const p = spawn(cmd, [...argv, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; if (err.length > 100000) err = err.slice(-50000); });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 1200; ++i) {
    try { if ((await fetch(url + '/health')).ok) return { p, url }; } catch {}
    if (p.exitCode !== null) throw new Error(`${cmd} exited: ${err.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${cmd} did not start`);
}
async function stop(s) {
  s.p.kill('SIGTERM');
  await new Promise((r) => (s.p.exitCode !== null ? r() : s.p.on('exit', r)));
}
function rssMiB(pid) {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => Number((st.match(new RegExp(`${k}:\\s+(\\d+)`)) || [0, 0])[1]) / 1024;
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

// One request. `native`: llama-server's own /completion (both servers have it; llama-server's
// /v1/completions refuses some random-weight texts with a 500 from its output parser).
async function one(url, n, seed, native = false) {
  const t0 = performance.now();
  const res = await fetch(url + (native ? '/completion' : '/v1/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(native ? { prompt: prompt(seed), n_predict: n, temperature: 0, cache_prompt: false }
                                : { prompt: prompt(seed), max_tokens: n, temperature: 0 }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  return { ms: performance.now() - t0, tokens: native ? body.tokens_predicted : body.usage.completion_tokens };
}
// c concurrent requests, twice; the better round's aggregate tokens/s over its wall time and
// its requests' latencies (the first round also pays what a fresh server pays once).
async function level(url, c, n, native = false, base = 1000 * c) {
  const a = await round(url, c, n, native, base), b = await round(url, c, n, native, base);
  return a.tps >= b.tps ? a : b;
}
async function round(url, c, n, native, base) {
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: c }, (_, i) => one(url, n, base + i, native)));
  const wall = (performance.now() - t0) / 1000;
  const toks = rs.reduce((s, r) => s + r.tokens, 0);
  const lat = rs.map((r) => r.ms / 1000).sort((a, b) => a - b);
  return { tps: toks / wall, lat };
}
const f = (x, d = 2) => x.toFixed(d);
const lat = (l) => (l.length === 1 ? `${f(l[0], 1)} s` : `${f(l[0], 1)} to ${f(l[l.length - 1], 1)} s`);
const cf = join(bin, 'coolfusion');
const tflag = threads > 0 ? ['-t', String(threads)] : [];

async function fusedSet(name) {
  const ms = models[name]();
  const margs = ms.flatMap((m) => ['-m', m]);
  const rows = {};
  const mem = {};
  for (const np of [8, 1]) {
    // -fa off on both: the slots have it off on the CPU (their texts must not depend on
    // the batch), and random-weight models write other texts (other work) with it on.
    const s = await start(cf, ['serve', '-np', String(np), '-c', '2048', '-fa', 'off', ...tflag, ...margs]);
    await one(s.url, 2, 1);  // warm-up
    for (const c of levels) rows[`${np}:${c}`] = await level(s.url, c, tokens);
    mem[np] = rssMiB(s.p.pid);
    if (np > 1) {
      // How the decodes were batched, over every level: slots per llama_decode, per model.
      const m = await (await fetch(s.url + '/metrics')).text();
      const get = (name) => Object.fromEntries([...m.matchAll(new RegExp(`^${name}\\{model="([^"]+)"\\} (\\S+)`, 'gm'))].map((x) => [x[1], Number(x[2])]));
      const dec = get('coolfusion_batch_decodes_total'), jobs = get('coolfusion_batch_slot_batches_total');
      rows.batching = Object.keys(dec).map((k) => `${k} ${f(jobs[k] / dec[k])}`).join(', ');
    }
    await stop(s);
  }
  console.log(`\n## ${name}: ${ms.map((m) => m.split('/').pop()).join(' + ')}, ${tokens} new tokens per request`);
  console.log('| concurrent | -np 8 tok/s | vs 1 request | -np 1 queued tok/s | -np 8 / -np 1 | -np 8 latency | -np 1 latency |');
  console.log('|---|---|---|---|---|---|---|');
  const base = rows[`8:${levels[0]}`].tps;
  for (const c of levels) {
    const a = rows[`8:${c}`], q = rows[`1:${c}`];
    console.log(`| ${c} | ${f(a.tps)} | ${f(a.tps / base)}x | ${f(q.tps)} | ${f(a.tps / q.tps)}x | ${lat(a.lat)} | ${lat(q.lat)} |`);
  }
  console.log(`slots per llama_decode on -np 8 (all levels): ${rows.batching}`);
  console.log(`resident memory: -np 8 ${f(mem[8].hwm, 0)} MiB peak (${f(mem[8].rss, 0)} now), ` +
              `-np 1 ${f(mem[1].hwm, 0)} MiB peak (${f(mem[1].rss, 0)} now): ${f(mem[8].hwm / mem[1].hwm)}x`);
}

async function oneModel() {
  const m = models.one()[0];
  const n = Math.max(tokens, 32);
  const out = {};
  const servers = [['coolfusion serve', cf, ['serve', '-np', '4', '-c', '2048', '-fa', 'off', ...tflag, '-m', m]]];
  if (existsSync(llamaServer)) {
    servers.push(['llama-server', llamaServer, ['-np', '4', '-c', '8192', '-fa', 'off', '--no-webui', ...tflag, '-m', m]]);
  }
  // Both servers run at once (one idles while the other answers), and their rounds
  // alternate, so that a slow spell of the machine falls on both: the best of five
  // rounds of each (a round: three requests one after the other, then four at once).
  const up = [];
  for (const [label, cmd, argv] of servers) {
    const s = await start(cmd, argv);
    await one(s.url, 2, 1, true);
    up.push([label, s]);
    out[label] = { 1: { tps: 0 }, 4: { tps: 0 } };
  }
  for (let r = 0; r < 5; ++r) {
    for (const [label, s] of up) {
      // Prompts whose texts llama-server's output parser accepts: with some random-weight
      // texts (seeds 2000, 4003, 9001 among them) it answers 500 "does not match the
      // expected Content-only format".
      // One request at a time: three in a row (a single one is too short to time here).
      for (const [c, base] of [[1, 1000], [4, 8000]]) {
        let x = { tps: 0, lat: [] };
        if (c === 1) {
          const t0 = performance.now();
          let toks = 0;
          for (let k = 0; k < 3; ++k) {
            const r = await one(s.url, n, base + k, true);
            toks += r.tokens;
            x.lat.push(r.ms / 1000);
          }
          x.tps = toks / ((performance.now() - t0) / 1000);
        } else {
          x = await round(s.url, c, n, true, base);
        }
        if (x.tps > out[label][c].tps) out[label][c] = x;
      }
    }
  }
  for (const [label, s] of up) {
    if (label === 'coolfusion serve') {
      // An identical prompt sent twice: all but its last token come from the cache.
      const p = prompt();
      const ask = async () => (await (await fetch(s.url + '/v1/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: p, max_tokens: 4, temperature: 0 }),
      })).json()).usage;
      await ask();
      const u = await ask();
      out.cache = `${u.prompt_tokens_details?.cached_tokens ?? '?'} of ${u.prompt_tokens} prompt tokens reused`;
    }
    await stop(s);
  }
  console.log(`\n## one model: ${m.split('/').pop()}, ${n} new tokens per request, -np 4`);
  console.log('| server | 1 request tok/s | 4 concurrent tok/s | 4 / 1 |');
  console.log('|---|---|---|---|');
  for (const [label] of servers) {
    const r = out[label];
    console.log(`| ${label} | ${f(r[1].tps)} | ${f(r[4].tps)} | ${f(r[4].tps / r[1].tps)}x |`);
  }
  if (out['llama-server']) {
    const c = out['coolfusion serve'], l = out['llama-server'];
    console.log(`coolfusion / llama-server: ${f(c[1].tps / l[1].tps)}x alone, ${f(c[4].tps / l[4].tps)}x at 4 concurrent`);
  } else {
    console.log(`llama-server not found at ${llamaServer}; build it with:\n  cmake -S third_party/llama.cpp -B build-server ` +
                `-DLLAMA_BUILD_SERVER=ON -DCMAKE_BUILD_TYPE=Release && cmake --build build-server --target llama-server -j`);
  }
  console.log(`identical prompt twice: ${out.cache}`);
}

for (const s of sets) {
  if (s === 'one') await oneModel();
  else await fusedSet(s);
}
