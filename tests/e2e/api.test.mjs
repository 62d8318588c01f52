// The server driven with curl and with the official openai client, unchanged (base URL only).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, health, readSse, ms, MODELS, OUT } from './server.mjs';

const run = promisify(execFile);
let srv;
before(async () => { srv = await startServer(['-np', '2', '--max-body', '65536']); });
after(async () => { await srv.stop(); });

async function curl(args) {
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  return { body: stdout.slice(0, cut), status: Number(stdout.slice(cut + 1)) };
}

test('curl: health, models, completions, chat, streaming', async () => {
  let r = await curl([srv.url + '/health']);
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).status, 'ok');
  r = await curl([srv.url + '/v1/models']);
  const ids = JSON.parse(r.body).data.map((m) => m.id);
  assert.equal(ids[0], 'coolfusion');
  assert.equal(ids.length, 3);
  // Source models by file name, never by where the files are (issue 24).
  assert.deepEqual(ids.slice(1), ['stories260K', 'aidreams260K']);
  assert.ok(!r.body.includes('/'), r.body);
  // The file name names a source model too; an unknown name is a 404 listing the ids.
  r = await curl([srv.url + '/v1/completions', '-H', 'Content-Type: application/json',
    '-d', JSON.stringify({ model: 'aidreams260K.gguf', prompt: 'Once', max_tokens: 2 })]);
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).model, 'aidreams260K');
  r = await curl([srv.url + '/v1/completions', '-H', 'Content-Type: application/json',
    '-d', JSON.stringify({ model: 'nope', prompt: 'Once', max_tokens: 2 })]);
  assert.equal(r.status, 404, r.body);
  assert.match(JSON.parse(r.body).error.message, /this server has: coolfusion, stories260K, aidreams260K/);
  r = await curl([srv.url + '/v1/completions', '-H', 'Content-Type: application/json',
    '-d', JSON.stringify({ prompt: 'Once upon a time', max_tokens: 16 })]);
  assert.equal(r.status, 200);
  const c = JSON.parse(r.body);
  assert.equal(c.object, 'text_completion');
  assert.ok(c.choices[0].text.length > 0);
  assert.ok(c.usage.completion_tokens >= 16);
  // How each model took part (default rule: prompt weights): bits per byte and weights.
  assert.equal(c.coolfusion.score, 'auto');
  assert.equal(c.coolfusion.models.length, 2);
  for (const m of c.coolfusion.models) {
    assert.equal(typeof m.prompt_bits_per_byte, 'number');
    assert.ok(m.weight >= 0 && m.weight <= 1);
  }
  assert.ok(c.coolfusion.models.some((m) => m.weight === 1));
  // The paper's rule: nothing measured, both weight 1; a wrongly typed field is a 400.
  r = await curl([srv.url + '/v1/completions', '-d',
    JSON.stringify({ prompt: 'Once upon a time', max_tokens: 4, coolfusion: { score: 'mean' } })]);
  assert.deepEqual(JSON.parse(r.body).coolfusion.models.map((m) => [m.prompt_bits_per_byte, m.weight]),
    [[null, 1], [null, 1]]);
  r = await curl([srv.url + '/v1/completions', '-d',
    JSON.stringify({ prompt: 'Once upon a time', coolfusion: { prompt_weights: 'on' } })]);
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.body).error.param, 'coolfusion.prompt_weights');
  r = await curl(['-N', srv.url + '/v1/chat/completions', '-d',
    JSON.stringify({ messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 12, stream: true })]);
  assert.equal(r.status, 200);
  assert.ok(r.body.trim().endsWith('data: [DONE]'));
});

test('openai client: non-streaming and streaming chat, completions, models', async () => {
  const client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused' });
  const models = await client.models.list();
  assert.equal(models.data[0].id, 'coolfusion');
  const chat = await client.chat.completions.create({
    model: 'coolfusion', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16 });
  assert.equal(chat.object, 'chat.completion');
  assert.ok(chat.choices[0].message.content.length > 0);
  assert.ok(['stop', 'length'].includes(chat.choices[0].finish_reason));
  const stream = await client.chat.completions.create({
    model: 'coolfusion', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16, stream: true,
    stream_options: { include_usage: true } });
  let text = '', chunks = 0, usage = null, finish = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const ch = chunk.choices[0];
    if (ch) { text += ch.delta.content || ''; if (ch.finish_reason) finish = ch.finish_reason; }
  }
  assert.ok(chunks > 3);
  assert.ok(text.length > 0);
  assert.ok(finish);
  assert.ok(usage && usage.completion_tokens > 0);
  const comp = await client.completions.create({ model: 'coolfusion', prompt: 'Once upon a time', max_tokens: 8 });
  assert.ok(comp.choices[0].text.length > 0);
  // A single source model by its id.
  const one = await client.completions.create({ model: ids(models)[1], prompt: 'Once upon a time', max_tokens: 8 });
  assert.ok(one.choices[0].text.length > 0);
});

function ids(models) { return models.data.map((m) => m.id); }

test('coolfusion.trace returns per-segment provenance', async () => {
  const res = await fetch(srv.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({
    messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16,
    coolfusion: { method: 'cool', trace: true } }) });
  const j = await res.json();
  const segs = j.coolfusion.segments;
  assert.ok(segs.length > 1);
  assert.equal(segs.map((s) => s.text).join(''), j.choices[0].message.content);
  for (const s of segs) {
    assert.ok(s.candidates.length >= 1);
    assert.ok(s.winner >= 0);
    for (const c of s.candidates) assert.equal(c.ppl.length, 2);
  }
  const st = await fetch(srv.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({
    messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8, stream: true,
    coolfusion: { trace: true } }) });
  const { events, done } = await readSse(st);
  assert.ok(done);
  assert.ok(events.some((e) => e.coolfusion && e.coolfusion.segment.candidates.length >= 1));
});

test('bad requests get the right 4xx with an OpenAI error body; the server keeps serving', async () => {
  const post = (body, path = '/v1/chat/completions') =>
    curl(['-X', 'POST', srv.url + path, '-H', 'Content-Type: application/json', '--data-binary', body]);
  const cases = [
    [await post('{"messages": [ broken'), 400, null],
    [await post('{"messages": "hello"}'), 400, 'messages'],
    [await post('{"messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}'), 400, 'max_tokens'],
    [await post('{"messages": [{"role": "user", "content": "x"}], "temperature": 9}'), 400, 'temperature'],
    [await post('{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}'), 404, 'model'],
    [await post(JSON.stringify({ prompt: 'x'.repeat(70000) }), '/v1/completions'), 413, null],
    [await post('{"prompt": "' + 'word '.repeat(3000) + '"}', '/v1/completions'), 400, null],
    [await curl([srv.url + '/v1/nothing-here']), 404, null],
  ];
  for (const [r, status, param] of cases) {
    assert.equal(r.status, status, r.body);
    const e = JSON.parse(r.body).error;
    assert.equal(typeof e.message, 'string');
    assert.ok(e.type);
    if (param) assert.equal(e.param, param);
  }
  assert.equal((await health(srv.url)).status, 'ok');
  const ok = await post('{"messages": [{"role": "user", "content": "still there?"}], "max_tokens": 4}');
  assert.equal(ok.status, 200);
});

// Issue 34: serve --calibrate FILE measures each model on FILE's solved rows at start and
// every request uses those weights; a request cannot ask for it, nor for any coolfusion
// option the server does not know.
test('serve --calibrate weighs each model by its accuracy on solved rows; unknown coolfusion keys are 400', async () => {
  const zoo = (process.env.COOLFUSION_ZOO || '').split(',').filter(Boolean);
  const rows = readFileSync(new URL('../../data/arith3/val.jsonl', import.meta.url), 'utf8')
    .split('\n').slice(0, 6).join('\n') + '\n';
  const file = join(OUT, `calibrate-e2e-${process.pid}.jsonl`);
  writeFileSync(file, rows);
  const cal = await startServer(['--calibrate', file, '--prompt-weights', 'off'], [zoo[0], MODELS[0]]);
  try {
    const right = /calibrate: arith3-a\.gguf (\d) of 6 right \(measured\), weight x 1\.000/.exec(cal.log());
    assert.ok(right, cal.log());
    assert.match(cal.log(), /calibrate: stories260K\.gguf 0 of 6 right \(measured\)/);
    let r = await curl([cal.url + '/v1/completions', '-d', JSON.stringify({ prompt: 'Question: 2 + 3?\nAnswer:', max_tokens: 2 })]);
    assert.equal(r.status, 200, r.body);
    // serve's generation flags are each request's defaults (here --prompt-weights off).
    assert.equal(JSON.parse(r.body).coolfusion.prompt_weights, false, r.body);
    const w = JSON.parse(r.body).coolfusion.models.map((m) => m.weight);
    assert.equal(w[0], 1);
    assert.ok(Math.abs(w[1] - 1 / (Number(right[1]) + 1)) < 1e-9, JSON.stringify(w));
    for (const [key, value] of [['calibrate', file], ['weights', [1, 1]]]) {
      r = await curl([cal.url + '/v1/completions', '-d', JSON.stringify({ prompt: 'x', coolfusion: { [key]: value } })]);
      assert.equal(r.status, 400, r.body);
      assert.equal(JSON.parse(r.body).error.param, 'coolfusion.' + key);
    }
  } finally {
    await cal.stop();
    rmSync(file, { force: true });
    rmSync(file + '.weights.json', { force: true });
  }
});

test('serve takes generation flags as request defaults, and refuses what each request brings', async () => {
  const s = await startServer(['--score', 'mean', '--stop', 'Zq', '--temp', '0.7']);
  try {
    let r = await curl([s.url + '/v1/completions', '-d', JSON.stringify({ prompt: 'Once upon a time', max_tokens: 2 })]);
    assert.equal(JSON.parse(r.body).coolfusion.score, 'mean', r.body);
    r = await curl([s.url + '/v1/completions', '-d', JSON.stringify({ prompt: 'Once upon a time', max_tokens: 2, coolfusion: { score: 'auto' } })]);
    assert.equal(JSON.parse(r.body).coolfusion.score, 'auto', r.body);
    const props = JSON.parse((await curl([s.url + '/props'])).body).default_generation_settings;
    assert.deepEqual(props.params.stop, ['Zq'], JSON.stringify(props));
    assert.ok(Math.abs(props.params.temperature - 0.7) < 1e-6, JSON.stringify(props));
  } finally {
    await s.stop();
  }
  for (const flags of [['--grammar', 'root ::= "a"'], ['-p', 'hi'], ['--system', 'x']]) {
    await assert.rejects(startServer(flags), /exited 1: error: .* is not a serve flag: each request sends its own/);
  }
});

test('API key: missing or wrong key is 401; the right key works', async () => {
  const keyed = await startServer(['--api-key', 'sekret']);
  try {
    const body = JSON.stringify({ prompt: 'hi', max_tokens: 2 });
    let r = await curl([keyed.url + '/v1/completions', '-d', body]);
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).error.code, 'invalid_api_key');
    r = await curl([keyed.url + '/v1/completions', '-H', 'Authorization: Bearer wrong', '-d', body]);
    assert.equal(r.status, 401);
    r = await curl([keyed.url + '/v1/completions', '-H', 'Authorization: Bearer sekret', '-d', body]);
    assert.equal(r.status, 200);
    const client = new OpenAI({ baseURL: keyed.url + '/v1', apiKey: 'sekret' });
    assert.ok((await client.models.list()).data.length === 3);
    assert.equal((await health(keyed.url)).status, 'ok');  // /health needs no key
  } finally {
    await keyed.stop();
  }
});

test('a client killed mid-stream frees its slot within a second', async () => {
  const one = await startServer(['-np', '1', '--max-tokens', '100000', '-c', '2048'],
    [process.env.COOLFUSION_LONG_MODEL, process.env.COOLFUSION_LONG_MODEL]);
  try {
    const body = JSON.stringify({ prompt: 'Once upon a time', max_tokens: 100000, stream: true });
    const child = spawn('curl', ['-sN', one.url + '/v1/completions', '-d', body], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    assert.equal((await health(one.url)).slots_busy, 1);
    child.kill('SIGKILL');
    const t0 = Date.now();
    while ((await health(one.url)).slots_busy !== 0) {
      assert.ok(Date.now() - t0 < ms(1000), `slot still busy after ${ms(1000)} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const freedMs = Date.now() - t0;
    // The same for a non-streaming request: the server notices within a second.
    const quiet = spawn('curl', ['-s', one.url + '/v1/completions', '-d',
      JSON.stringify({ prompt: 'Once upon a time', max_tokens: 100000 })], { stdio: 'ignore' });
    const t1 = Date.now();
    while ((await health(one.url)).slots_busy !== 1) {
      assert.ok(Date.now() - t1 < ms(5000), 'non-streaming request never started');
      await new Promise((r) => setTimeout(r, 10));
    }
    quiet.kill('SIGKILL');
    const t2 = Date.now();
    while ((await health(one.url)).slots_busy !== 0) {
      assert.ok(Date.now() - t2 < ms(1000), `slot still busy ${ms(1000)} ms after a non-streaming client was killed`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const metrics = await (await fetch(one.url + '/metrics')).text();
    assert.match(metrics, /coolfusion_cancelled_total 2/);
    console.log(`slot freed ${freedMs} ms after the client was killed`);
    // The slot serves the next request.
    const r = await curl([one.url + '/v1/completions', '-d', JSON.stringify({ prompt: 'Hello', max_tokens: 4 })]);
    assert.equal(r.status, 200);
  } finally {
    await one.stop();
  }
});

test('requests beyond the slots and the queue get 429', async () => {
  const one = await startServer(['-np', '1', '--max-queue', '0', '--max-tokens', '100000', '-c', '2048'],
    [process.env.COOLFUSION_LONG_MODEL, process.env.COOLFUSION_LONG_MODEL]);
  try {
    const body = JSON.stringify({ prompt: 'Once upon a time', max_tokens: 100000, stream: true });
    const child = spawn('curl', ['-sN', one.url + '/v1/completions', '-d', body], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const r = await curl([one.url + '/v1/completions', '-d', JSON.stringify({ prompt: 'Hi', max_tokens: 2 })]);
    assert.equal(r.status, 429);
    assert.equal(JSON.parse(r.body).error.type, 'rate_limit_error');
    child.kill('SIGKILL');
  } finally {
    await one.stop();
  }
});

test('prompt cache: cached_tokens and timings from turn 2 on, the slot that holds the prefix is chosen, cache_prompt false', async () => {
  const post = async (body) => {
    const res = await fetch(srv.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  // The paper's rule measures no prompt likelihoods: the whole common prefix is reused.
  const ask = (messages, extra = {}) => post({ messages, max_tokens: 12, coolfusion: { score: 'mean' }, ...extra });
  const chatA = [{ role: 'user', content: 'Tell me a story about a red ball and a little girl.' }];
  const chatB = [{ role: 'user', content: 'Once upon a time there was a cat who lived by the sea.' }];
  // Both slots busy at once: A (long) in one, B in the other.
  const [a1, b1] = await Promise.all([ask(chatA, { max_tokens: 60 }), (async () => {
    await new Promise((r) => setTimeout(r, 30));
    return ask(chatB);
  })()]);
  assert.equal(a1.status, 200);
  assert.equal(b1.status, 200);
  // B's first turn shares at most the template's start with anything cached.
  assert.ok(b1.body.usage.prompt_tokens_details.cached_tokens < b1.body.usage.prompt_tokens / 2);
  for (const k of ['cache_n', 'prompt_n', 'prompt_ms', 'predicted_n', 'predicted_ms']) {
    assert.equal(typeof b1.body.timings[k], 'number', k);
  }
  assert.equal(b1.body.timings.prompt_n,
    b1.body.usage.prompt_tokens - b1.body.usage.prompt_tokens_details.cached_tokens);
  // B's second turn goes to the slot that holds B: most of its prompt is cached.
  const chatB2 = [...chatB, { role: 'assistant', content: b1.body.choices[0].message.content },
    { role: 'user', content: 'What did the cat do next?' }];
  const b2 = await ask(chatB2);
  assert.equal(b2.status, 200);
  const cached = b2.body.usage.prompt_tokens_details.cached_tokens;
  assert.ok(cached >= b1.body.usage.prompt_tokens * 0.9, `cached ${cached} of ${b2.body.usage.prompt_tokens}`);
  assert.equal(b2.body.timings.cache_n, cached);
  assert.equal(b2.body.timings.prompt_n, b2.body.usage.prompt_tokens - cached);
  // The same text without the cache (llama-server's cache_prompt: false).
  const fresh = await ask(chatB2, { cache_prompt: false });
  assert.equal(fresh.body.usage.prompt_tokens_details.cached_tokens, 0);
  assert.equal(fresh.body.choices[0].message.content, b2.body.choices[0].message.content);
  // Streaming: the last chunk carries timings; the usage chunk carries cached_tokens.
  const res = await fetch(srv.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({
    messages: chatB2, max_tokens: 12, stream: true, stream_options: { include_usage: true }, coolfusion: { score: 'mean' } }) });
  const { events } = await readSse(res);
  const usage = events.find((e) => e.usage);
  assert.ok(usage.usage.prompt_tokens_details.cached_tokens > 0);
  assert.ok(events.some((e) => e.timings && typeof e.timings.cache_n === 'number'));
  // Wrongly typed: a 400 naming the field.
  for (const [body, param] of [[{ cache_prompt: 'yes' }, 'cache_prompt'],
    [{ stream: true, stream_options: { include_usage: 'yes' } }, 'stream_options.include_usage']]) {
    const r = await post({ messages: chatA, max_tokens: 4, ...body });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.param, param);
  }
});

// The port is the server's alone: a second `serve` on a port a running server holds exits
// 1 with the one-line error, instead of listening beside it and taking half its requests
// (cpp-httplib's SO_REUSEPORT; connection_gate.cc binds with SO_REUSEADDR only).
test('a second serve on a taken port exits 1 with a clear error', async () => {
  const first = await startServer();
  try {
    const second = spawn(process.env.COOLFUSION_BIN,
      ['serve', '--port', String(first.port), '-m', process.env.COOLFUSION_MODELS.split(',')[0]],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    second.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((resolve) => {
      const timer = setTimeout(() => { second.kill('SIGKILL'); resolve('still running: ' + err); }, ms(30000));
      second.on('exit', (c) => { clearTimeout(timer); resolve(c); });
    });
    assert.equal(code, 1, err);
    assert.match(err, new RegExp(`^error: cannot listen on 127\\.0\\.0\\.1:${first.port}: .*in use`, 'm'), err);
    assert.ok(!/listening on/.test(err), err);
    assert.equal((await health(first.url)).status, 'ok');
  } finally {
    await first.stop();
  }
});
