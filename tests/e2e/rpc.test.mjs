// Models on llama.cpp rpc-server workers: two workers on 127.0.0.1, one source model on
// each; the fused text equals the fused text with both models local. An unreachable
// worker is a clear error naming it; a worker killed while the server runs ends its
// requests with a clear error within 5 s and the server keeps serving; a worker that
// stops answering (SIGSTOP: a frozen host, its connection still open) fails the request
// within the deadline (--rpc-timeout) + 10 s, from the CLI and under the server, whose
// /health and requests that do not need the worker keep answering meanwhile.
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
    // The headers went out with the first keep-alive bytes (status 200): the error is the body.
    assert.equal(r.body.error?.code, 'worker_unavailable', JSON.stringify(r.body).slice(0, 300));
    assert.match(r.body.error.message, /RPC worker 127\.0\.0\.1:\d+ failed/);
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

const DEADLINE_S = 3;

test('a frozen worker (SIGSTOP) under the CLI: exit 1 within the deadline + 10 s, naming it', { timeout: 180000 }, async () => {
  const w = await startWorker();
  try {
    const args = ['generate', '-n', '2000', '-t', '1', '--prompt-weights', 'off', '--rpc-timeout', String(DEADLINE_S),
      '-p', 'Once upon a time, there was', '-m', `${MODELS[0]}@rpc=${w.endpoint}`, '-m', MODELS[1]];
    const cli = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    cli.stderr.on('data', (d) => { err += d; });
    let stoppedAt = 0;
    cli.stdout.on('data', () => {  // the first streamed text: generation is under way
      if (stoppedAt) return;
      w.proc.kill('SIGSTOP');
      stoppedAt = Date.now();
    });
    const code = await new Promise((resolve) => cli.on('exit', (c) => resolve(c)));
    assert.ok(stoppedAt > 0, 'the CLI ended before it streamed anything: ' + err);
    const took = Date.now() - stoppedAt;
    assert.equal(code, 1, err);
    assert.ok(took < ms((DEADLINE_S + 10) * 1000), `exited ${took} ms after the worker froze`);
    assert.ok(took >= DEADLINE_S * 1000 - 500, `exited after ${took} ms: before the deadline?`);
    assert.match(err, new RegExp(`^error: .*RPC worker ${w.endpoint.replace(/\./g, '\\.')} failed: .*sent nothing for ${DEADLINE_S} s`, 'm'));
  } finally {
    w.proc.kill('SIGCONT');
    w.proc.kill('SIGKILL');
  }
});

test('a frozen worker under the server: that request fails, /health and other requests keep answering', { timeout: 180000 }, async () => {
  const w = await startWorker();
  // Two slots: a request for the local model alone runs in the second while the first waits.
  const srv = await startServer(['-np', '2', '--rpc-timeout', String(DEADLINE_S)],
    [`${MODELS[0]}@rpc=${w.endpoint}`, MODELS[1]]);
  try {
    const ids = (await (await fetch(srv.url + '/v1/models')).json()).data.map((m) => m.id);
    const local = ids[2];  // [ensemble, model 0 (on the worker), model 1 (local)]
    // A streamed fused request; the worker freezes after its first chunk.
    const res = await fetch(srv.url + '/v1/completions', { method: 'POST',
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 2000, stream: true }) });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    let head = '';
    while ((head.match(/^data: /gm) || []).length < 2) {  // the role chunk, then text: generating
      const { done, value } = await reader.read();
      assert.ok(!done, 'the stream ended before any text: ' + head);
      head += new TextDecoder().decode(value);
    }
    w.proc.kill('SIGSTOP');
    const frozenAt = Date.now();
    // While the fused request waits for the frozen worker: /health and the local model answer.
    let rest = '';
    const drained = (async () => {
      const dec = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return Date.now();
        rest += dec.decode(value);
      }
    })();
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      assert.equal((await health(srv.url)).status, 'ok');
      assert.ok(Date.now() - t0 < ms(1000), `/health took ${Date.now() - t0} ms`);
      await sleep(300);
    }
    const t0 = Date.now();
    const other = await fetch(srv.url + '/v1/completions', { method: 'POST',
      body: JSON.stringify({ model: local, prompt: 'Once upon a time', max_tokens: 16 }) });
    assert.equal(other.status, 200, await other.clone().text());
    assert.ok((await other.json()).choices[0].text.length > 0);
    assert.ok(Date.now() - frozenAt < DEADLINE_S * 1000, 'the local request did not run during the stall');
    assert.ok(Date.now() - t0 < ms(2000));
    // The fused request ends with an error naming the worker, within the deadline + 10 s.
    const endedAt = await drained;
    assert.ok(endedAt - frozenAt < ms((DEADLINE_S + 10) * 1000), `ended ${endedAt - frozenAt} ms after the freeze`);
    assert.match(rest, /"error"/);
    assert.match(rest, /RPC worker 127\.0\.0\.1:\d+ failed: .*sent nothing for 3 s/);
    assert.equal((await health(srv.url)).status, 'ok');
  } finally {
    w.proc.kill('SIGCONT');
    w.proc.kill('SIGKILL');
    await srv.stop();
  }
});
