// Models on llama.cpp rpc-server workers: two workers on 127.0.0.1, one source model on
// each; the fused text equals the fused text with both models local. An unreachable
// worker is a clear error naming it; a worker killed while the server runs ends its
// requests with a clear error within 5 s and the server keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import net from 'node:net';
import { BIN, MODELS, startServer, health, ms } from './server.mjs';

const RPC_SERVER = process.env.COOLFUSION_RPC_SERVER;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function startWorker() {
  const port = await freePort();
  const proc = spawn(RPC_SERVER, ['-H', '127.0.0.1', '-p', String(port), '-t', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 200; i++) {  // until it accepts connections (10 s)
    const ok = await new Promise((r) => { const c = net.connect(port, '127.0.0.1', () => { c.end(); r(true); }); c.on('error', () => r(false)); });
    if (ok) return { proc, endpoint: `127.0.0.1:${port}`, log: () => log };
    if (proc.exitCode !== null) break;
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error('rpc-server did not start: ' + log);
}

// Asynchronous: the workers' output pipes must keep draining while the CLI runs.
function generate(models, extra = []) {
  // Prompt weights off: both models take part (aidreams260K would sit out of this prompt).
  const args = ['generate', '--json', '-n', '24', '-t', '1', '--prompt-weights', 'off', '-p',
    'Once upon a time, there was'];
  for (const m of models) args.push('-m', m);
  return new Promise((resolve) => {
    execFile(BIN, [...args, ...extra], { encoding: 'utf8', timeout: 120000 }, (e, out, err) => {
      resolve({ code: e ? (e.code ?? null) : 0, out, err });
    });
  });
}

test('fused text is the same with the models on two RPC workers as with both local', { timeout: 180000 }, async () => {
  assert.ok(RPC_SERVER, 'set COOLFUSION_RPC_SERVER (ctest does)');
  const [w1, w2] = [await startWorker(), await startWorker()];
  try {
    const local = await generate(MODELS);
    assert.equal(local.code, 0, local.err);
    const remote = await generate([`${MODELS[0]}@rpc=${w1.endpoint}`, `${MODELS[1]}@rpc=${w2.endpoint}`]);
    assert.equal(remote.code, 0, remote.err);
    const [a, b] = [JSON.parse(local.out), JSON.parse(remote.out)];
    assert.ok(a.text.length > 0);
    assert.equal(b.text, a.text);
    assert.deepEqual(b.segments.map((s) => s.text), a.segments.map((s) => s.text));
    // The models side by side (each on its own worker, pre-scoring each other's drafts in
    // step): the same text again.
    const side = await generate([`${MODELS[0]}@rpc=${w1.endpoint}`, `${MODELS[1]}@rpc=${w2.endpoint}`],
      ['--parallel-models']);
    assert.equal(side.code, 0, side.err);
    const c = JSON.parse(side.out);
    assert.equal(c.text, a.text);
    assert.ok(c.counters.prescored_tokens > 0, 'no draft was pre-scored');
  } finally {
    w1.proc.kill('SIGKILL');
    w2.proc.kill('SIGKILL');
  }
});

test('an unreachable worker is a clear error naming it', async () => {
  const port = await freePort();  // nothing listens there
  const r = await generate([`${MODELS[0]}@rpc=127.0.0.1:${port}`, MODELS[1]]);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`^error: .*RPC worker 127\\.0\\.0\\.1:${port} is unreachable`, 'm'));
  const bad = await generate([`${MODELS[0]}@rpc=nonsense`, MODELS[1]]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /RPC worker 'nonsense' is not HOST:PORT/);
});

test('a worker killed under a running server: clear error within 5 s, the server keeps serving', { timeout: 180000 }, async () => {
  const w = await startWorker();
  const srv = await startServer([], [`${MODELS[0]}@rpc=${w.endpoint}`, MODELS[1]]);
  try {
    const ask = async () => {
      const t0 = Date.now();
      const res = await fetch(srv.url + '/v1/completions', { method: 'POST',
        body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 400 }) });
      return { status: res.status, body: await res.json(), ms: Date.now() - t0 };
    };
    const ok = await ask();
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    // Kill the worker while a long request runs.
    const inflight = ask();
    await sleep(100);
    w.proc.kill('SIGKILL');
    const killedAt = Date.now();
    const r = await inflight;
    assert.ok(Date.now() - killedAt < ms(5000), `answered ${Date.now() - killedAt} ms after the kill`);
    assert.ok(r.status >= 500 || r.body.error, `expected an error, got ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    // Later requests fail fast with the same clear error; the server itself stays up.
    const again = await ask();
    assert.ok(again.ms < 5000);
    assert.match(JSON.stringify(again.body), /RPC worker 127\.0\.0\.1:\d+ failed/);
    assert.equal((await health(srv.url)).status, 'ok');
  } finally {
    w.proc.kill('SIGKILL');
    await srv.stop();
  }
});
