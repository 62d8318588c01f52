// llama-server's habits on an ensemble: /props, /slots, /tokenize, /detokenize and the
// native /completion (streamed as llama-server streams: stop false chunks, a last event
// with stop true, no [DONE]) answer with llama-server's field names; --alias names the
// ensemble; a request log line per request on stderr (none with --log-disable);
// --chat-template reaches /props and a bad one fails the start; /health answers 503
// "Loading model" while the models load (their layers behind an rpc-server reached through
// a proxy that holds each connection 2 s: a real slow load) and 200 after; -e escapes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import net from 'node:net';
import { BIN, MODELS, startServer, readSse, ms } from './server.mjs';

const run = promisify(execFile);
const RPC_SERVER = process.env.COOLFUSION_RPC_SERVER;
const sleep = (t) => new Promise((r) => setTimeout(r, t));
const ids = MODELS.map((m) => m.split('/').pop().replace(/\.gguf$/, ''));

let srv;
before(async () => { srv = await startServer(['-np', '2', '--alias', 'duo', '--chat-template', 'chatml']); });
after(async () => { await srv.stop(); });

async function post(path, body, url = srv.url) {
  const res = await fetch(url + path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

test('/props, /slots and /v1/models: llama-server fields, the alias and the template', async () => {
  const props = await (await fetch(srv.url + '/props')).json();
  for (const k of ['default_generation_settings', 'total_slots', 'model_path', 'chat_template',
    'chat_template_caps', 'modalities', 'build_info', 'is_sleeping']) assert.ok(k in props, k);
  assert.equal(props.total_slots, 2);
  assert.equal(props.model_path, MODELS[0]);
  assert.equal(props.model_alias, 'duo');
  assert.equal(props.chat_template, 'chatml');
  assert.deepEqual(props.coolfusion.models.map((m) => m.id), ids);
  const d = props.default_generation_settings;
  for (const k of ['id', 'id_task', 'n_ctx', 'speculative', 'is_processing', 'params', 'next_token']) assert.ok(k in d, k);
  for (const k of ['n_predict', 'seed', 'temperature', 'top_k', 'top_p', 'min_p', 'repeat_penalty', 'stop', 'samplers'])
    assert.ok(k in d.params, k);
  const slots = await (await fetch(srv.url + '/slots')).json();
  assert.equal(slots.length, 2);
  assert.deepEqual(slots.map((s) => s.id), [0, 1]);
  for (const s of slots) {
    assert.equal(s.is_processing, false);
    assert.equal(typeof s.n_ctx, 'number');
    assert.ok('params' in s && 'next_token' in s);
  }
  const models = await (await fetch(srv.url + '/v1/models')).json();
  assert.equal(models.data[0].id, 'duo');
});

test('/tokenize and /detokenize per source model, with pieces, and their errors', async () => {
  const text = 'Once upon a time';
  let r = await post('/tokenize', { content: text });
  assert.equal(r.status, 200);
  assert.ok(r.body.tokens.length > 0 && r.body.tokens.every(Number.isInteger), JSON.stringify(r.body));
  const first = r.body.tokens;
  r = await post('/tokenize', { content: text, with_pieces: true, model: ids[0] });
  assert.deepEqual(r.body.tokens.map((t) => t.id), first);  // the first model is the default
  assert.equal(r.body.tokens.map((t) => t.piece).join('').trim(), text);
  r = await post('/detokenize', { tokens: first });
  assert.equal(r.status, 200);
  assert.equal(r.body.content.trim(), text);
  // The second model has its own tokenizer.
  r = await post('/tokenize', { content: text, model: ids[1], with_pieces: true });
  assert.equal(r.status, 200);
  assert.equal(r.body.tokens.map((t) => t.piece).join('').trim(), text);
  const second = r.body.tokens.map((t) => t.id);
  r = await post('/detokenize', { tokens: second, model: ids[1] });
  assert.equal(r.body.content.trim(), text);
  // No content: no tokens; no tokens: no content (llama-server's answers).
  assert.deepEqual((await post('/tokenize', {})).body, { tokens: [] });
  assert.deepEqual((await post('/detokenize', {})).body, { content: '', prompt: '' });
  // Errors name the field.
  r = await post('/tokenize', { content: text, model: 'nope' });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.param, 'model');
  r = await post('/detokenize', { tokens: [1e9] });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.param, 'tokens');
  r = await post('/tokenize', { content: 7 });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.param, 'content');
});

test('/completion: llama-server native shape, streamed with stop flags and no [DONE]', async () => {
  const req = { prompt: 'Once upon a time', n_predict: 12, temperature: 0 };
  const r = await post('/completion', req);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const c = r.body;
  for (const k of ['index', 'content', 'tokens', 'id_slot', 'stop', 'model', 'tokens_predicted',
    'tokens_evaluated', 'generation_settings', 'prompt', 'has_new_line', 'truncated', 'stop_type',
    'stopping_word', 'tokens_cached', 'timings']) assert.ok(k in c, k);
  assert.equal(c.stop, true);
  assert.equal(c.model, 'duo');
  assert.equal(c.prompt, req.prompt);
  assert.ok(c.content.length > 0);
  assert.ok(c.tokens_predicted > 0 && c.tokens_evaluated > 0);
  assert.ok(['eos', 'limit', 'word'].includes(c.stop_type));
  assert.equal(c.generation_settings.n_predict, 12);
  assert.equal(typeof c.timings.predicted_ms, 'number');

  const res = await fetch(srv.url + '/completion', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...req, stream: true }),
  });
  assert.equal(res.status, 200);
  const { events, done } = await readSse(res);
  assert.equal(done, false, 'llama-server sends no [DONE]');
  assert.ok(events.length >= 2);
  const last = events.at(-1);
  assert.equal(last.stop, true);
  assert.equal(last.tokens_predicted, c.tokens_predicted);
  assert.ok('timings' in last && 'stop_type' in last);
  for (const e of events.slice(0, -1)) {
    assert.equal(e.stop, false);
    assert.deepEqual(Object.keys(e).sort(), ['content', 'id_slot', 'index', 'stop', 'tokens']);
  }
  assert.equal(events.map((e) => e.content).join(''), c.content);  // greedy: the same text

  // A prompt of token ids (the first model's), as llama-server takes it.
  const ids3 = await post('/completion', { prompt: [1, 2, 3], n_predict: 2 });
  assert.equal(ids3.status, 200, JSON.stringify(ids3.body));
  let bad = await post('/completion', { prompt: { text: 'x' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.param, 'prompt');
  bad = await post('/completion', { prompt: 'x', n_predict: 'many' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.param, 'n_predict');
});

test('a request log line per request on stderr; none with --log-disable', async () => {
  await post('/completion', { prompt: 'Once', n_predict: 4 });
  await post('/tokenize', { content: 'Once' });
  await sleep(200);
  assert.match(srv.log(), /request: POST \/completion 127\.0\.0\.1 200 \d+ ms \d+ tokens\n/);
  assert.match(srv.log(), /request: POST \/tokenize 127\.0\.0\.1 200 \d+ ms\n/);
  assert.doesNotMatch(srv.log(), /request: GET \/health/);  // polling is not logged
  const quiet = await startServer(['--log-disable'], [MODELS[0]]);
  try {
    const r = await post('/completion', { prompt: 'Once', n_predict: 4 }, quiet.url);
    assert.equal(r.status, 200);
    await sleep(200);
    assert.doesNotMatch(quiet.log(), /request:/);
  } finally {
    await quiet.stop();
  }
});

test('a chat template llama.cpp does not know fails the start, naming it', async () => {
  const r = await run(BIN, ['serve', '--port', '0', '-m', MODELS[0], '--chat-template', 'no-such-template'])
    .then(() => ({ code: 0, stderr: '' }), (e) => e);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /chat template 'no-such-template'.*chatml/);
});

test('-e: escapes in -p are processed by default, kept with --no-escape', async () => {
  const bytes = async (...extra) => {
    const { stdout } = await run(BIN, ['boundaries', '-m', MODELS[0], '--json', '-p', 'a\\nb', ...extra]);
    return JSON.parse(stdout).text_bytes;
  };
  assert.equal(await bytes(), 3);  // a, newline, b
  assert.equal(await bytes('-e'), 3);
  assert.equal(await bytes('--no-escape'), 4);
});

// A TCP proxy that holds each connection `delay` ms before joining it to `port`.
function delayingProxy(port, delay) {
  return new Promise((resolve) => {
    const server = net.createServer((c) => {
      c.pause();
      setTimeout(() => {
        const u = net.connect(port, '127.0.0.1', () => { c.pipe(u); u.pipe(c); c.resume(); });
        u.on('error', () => c.destroy());
        c.on('error', () => u.destroy());
      }, delay);
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

test('/health answers 503 "Loading model" while the models load, then 200', { timeout: ms(120000) }, async () => {
  assert.ok(RPC_SERVER, 'set COOLFUSION_RPC_SERVER (ctest does)');
  const wport = await freePort();
  const worker = spawn(RPC_SERVER, ['-H', '127.0.0.1', '-p', String(wport), '-t', '1'], { stdio: 'ignore' });
  // Each connection to the worker waits, so that the loading is long enough to watch. Not
  // scaled beyond 3 s under the sanitizers: the load opens several connections, and what
  // is checked meanwhile takes milliseconds (10 s each made this test 75 s there).
  const proxy = await delayingProxy(wport, Math.min(ms(2000), 3000));
  let proc;
  try {
    proc = spawn(BIN, ['serve', '--port', '0', '-m', `${MODELS[0]}@rpc=127.0.0.1:${proxy.address().port}`],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr.on('data', (d) => { log += d; });
    let port = 0;
    for (let i = 0; i < 200 && !port; i++) {
      const m = /loading .* http:\/\/[^:]+:(\d+)\/health answers 503/.exec(log);
      if (m) port = Number(m[1]);
      else await sleep(25);
    }
    assert.ok(port, 'no loading line: ' + log);
    const url = `http://127.0.0.1:${port}`;
    let res = await fetch(url + '/health');
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
    assert.equal((await post('/completion', { prompt: 'x' }, url)).status, 503);
    assert.doesNotMatch(log, /listening on/);
    const until = Date.now() + ms(60000);  // until loaded (60 s at most, scaled)
    while (Date.now() < until) {
      res = await fetch(url + '/health');
      if (res.status === 200) break;
      await sleep(100);
    }
    assert.equal(res.status, 200, log);
    assert.equal((await res.json()).status, 'ok');
    assert.match(log, /listening on/);
    const r = await post('/completion', { prompt: 'Once', n_predict: 4 }, url);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  } finally {
    if (proc) { proc.kill('SIGTERM'); await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r))); }
    proxy.close();
    worker.kill('SIGKILL');
  }
});
