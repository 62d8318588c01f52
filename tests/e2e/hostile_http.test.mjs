// Hostile HTTP, round 2 (issue 31, findings 9 to 12 and the memory ratchet): clients that
// pipeline requests and never read the answers, /tokenize on text a context cannot hold,
// a path that forges a log line, CORS and the Host check, and resident memory after a
// burst of heavy requests. Each test names the behaviour it guards; each fails without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startServer, ms } from './server.mjs';

let srv;
before(async () => {
  // The default --timeout (30 s): a worker that waited on a client that does not read would
  // be held that long.
  srv = await startServer(['--max-body', String(16 << 20)]);
});
after(async () => {
  await srv.stop();
});

const sleep = (n) => new Promise((r) => setTimeout(r, n));

// A connection that pipelines `count` copies of `request` and reads none of the answers
// (`readEvery` ms: reads `readBytes` then, as a slow client would). Returns the socket;
// `closed` turns true when the server closes it.
function pipeliner(request, count, { readEvery = 0, readBytes = 2048 } = {}) {
  const sock = net.connect(srv.port, '127.0.0.1');
  sock.on('error', () => {});
  sock.pause();
  let timer = null;
  sock.on('connect', () => {
    sock.write(request.repeat(count));
    if (readEvery) timer = setInterval(() => sock.read(readBytes), readEvery);
  });
  sock.on('close', () => { sock.closedByServer = true; if (timer) clearInterval(timer); });
  sock.stop = () => { if (timer) clearInterval(timer); sock.destroy(); };
  return sock;
}

// GET `path` on a fresh connection: [status, ms], or [0, ms] after `limitMs` unanswered.
function timedGet(path, limitMs = 5000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const req = http.get({ host: '127.0.0.1', port: srv.port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve([res.statusCode, Date.now() - t0]));
    });
    req.setTimeout(limitMs, () => { req.destroy(); resolve([0, Date.now() - t0]); });
    req.on('error', () => resolve([0, Date.now() - t0]));
  });
}

// Probes /health every 100 ms for `forMs`; returns the slowest answer's time (a probe
// not answered within 5 s counts as 5000 ms).
async function worstHealth(forMs) {
  let worst = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < forMs) {
    const [status, took] = await timedGet('/health');
    assert.equal(status || 0, took >= 5000 ? 0 : 200);
    worst = Math.max(worst, status === 200 ? took : 5000);
    await sleep(100);
  }
  return worst;
}

const HEALTH = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

test('two connections pipelining 100,000 unread GET /health: /health answers in under 1 s', async () => {
  // 100,000, not the 20,000: here the loopback socket buffers hold 20,000 answers.
  const socks = [pipeliner(HEALTH, 100000), pipeliner(HEALTH, 100000)];
  try {
    const worst = await worstHealth(8000);
    console.log(`/health: slowest answer ${worst} ms during the attack`);
    assert.ok(worst < ms(1000), `/health took ${worst} ms during the attack`);
  } finally {
    socks.forEach((s) => s.stop());
  }
});

test('the same, reading 2 KB every 10 s: /health answers in under 1 s', async () => {
  const socks = [pipeliner(HEALTH, 100000, { readEvery: 10000 }), pipeliner(HEALTH, 100000, { readEvery: 10000 })];
  try {
    const worst = await worstHealth(12000);
    console.log(`/health: slowest answer ${worst} ms during the attack`);
    assert.ok(worst < ms(1000), `/health took ${worst} ms during the attack`);
  } finally {
    socks.forEach((s) => s.stop());
  }
});

test('28 connections pipelining unread GET /props do not starve /completion', async () => {
  const props = 'GET /props HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const socks = [];
  for (let i = 0; i < 28; ++i) socks.push(pipeliner(props, 20000));
  try {
    await sleep(3000);  // the attack under way: every socket buffer full
    const t0 = Date.now();
    const res = await fetch(`${srv.url}/completion`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'Once upon a time', n_predict: 8 }),
      signal: AbortSignal.timeout(30000),
    });
    const j = await res.json();
    const took = Date.now() - t0;
    assert.equal(res.status, 200, JSON.stringify(j));
    console.log(`/completion: ${took} ms during the attack`);
    assert.ok(took < ms(5000), `/completion took ${took} ms during the attack`);
    const [status, h] = await timedGet('/health');
    assert.equal(status, 200);
    assert.ok(h < ms(1000), `/health took ${h} ms`);
  } finally {
    socks.forEach((s) => s.stop());
  }
});

test('/tokenize and /detokenize are bounded by the context: 400 naming the field, at once', async () => {
  const post = (path, body) => fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const cjk = '漢字'.repeat(150000);  // 300,000 characters: 15 s to tokenize before
  for (const body of [{ content: cjk }, { content: cjk, with_pieces: true }]) {
    const t0 = Date.now();
    const res = await post('/tokenize', body);
    const j = await res.json();
    assert.equal(res.status, 400, JSON.stringify(j).slice(0, 300));
    assert.equal(j.error.param, 'content');
    assert.match(j.error.message, /tokens can hold/);
    assert.ok(Date.now() - t0 < ms(1000), `/tokenize took ${Date.now() - t0} ms`);
  }
  // Within the bound it tokenizes; more tokens than the context is refused too.
  const small = await post('/tokenize', { content: 'Once upon a time', with_pieces: true });
  assert.equal(small.status, 200);
  assert.ok((await small.json()).tokens.length > 0);
  // CJK on a byte-fallback vocabulary: a token per byte, so n_ctx characters are 3 n_ctx
  // tokens, within the byte bound.
  const nCtx = (await (await fetch(`${srv.url}/props`)).json()).coolfusion.models[0].n_ctx;
  const many = await post('/tokenize', { content: '漢'.repeat(nCtx) });
  const mj = await many.json();
  assert.equal(many.status, 400, JSON.stringify(mj).slice(0, 300));
  assert.equal(mj.error.param, 'content');
  const t0 = Date.now();
  const detok = await post('/detokenize', { tokens: new Array(500000).fill(1) });
  const dj = await detok.json();
  assert.equal(detok.status, 400, JSON.stringify(dj).slice(0, 300));
  assert.equal(dj.error.param, 'tokens');
  assert.match(dj.error.message, /more than .* context of \d+ tokens/);
  assert.ok(Date.now() - t0 < ms(2000), `/detokenize took ${Date.now() - t0} ms`);
  const ok = await post('/detokenize', { tokens: [1, 2, 3] });
  assert.equal(ok.status, 200);
});

test('the request log escapes control characters: a path cannot forge or cut a line', async () => {
  const before = srv.log().length;
  for (const path of ['/x%0d%0aSet-Cookie:%20evil=1', '/y%00z%1b[31m']) {
    const [status] = await timedGet(path);
    assert.equal(status, 404);
  }
  await sleep(200);
  const log = srv.log().slice(before);
  assert.ok(log.includes('request: GET /x\\x0d\\x0aSet-Cookie: evil=1 127.0.0.1 404'), log);
  assert.ok(log.includes('request: GET /y\\x00z\\x1b[31m 127.0.0.1 404'), log);
  assert.ok(!/^Set-Cookie/m.test(log), log);
  assert.ok(!log.includes('\0') && !log.includes('\x1b') && !log.includes('\r'), JSON.stringify(log));
});

test('memory is given back after a burst of heavy requests', async () => {
  // 300,000 chat messages (9 MB): each answer is a 400, and each took about 120 MB that
  // glibc kept in the arena of the worker that answered it: 36 MB -> 1.2 GB over ten.
  const body = JSON.stringify({ messages: new Array(300000).fill({ role: 'user', content: 'x' }), max_tokens: 2 });
  const warm = await fetch(`${srv.url}/health`);
  await warm.json();
  const start = srv.rssKb();
  let most = start;
  for (let i = 0; i < 10; ++i) {
    const res = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    await res.text();
    assert.equal(res.status, 400);
    most = Math.max(most, srv.rssKb());
  }
  await sleep(500);
  const end = srv.rssKb();
  const mb = (kb) => (kb / 1024).toFixed(0);
  console.log(`RSS: ${mb(start)} MB before, ${mb(most)} MB at most, ${mb(end)} MB after the burst`);
  assert.ok(end - start < 100 * 1024, `RSS ${mb(start)} MB -> ${mb(end)} MB after ten heavy requests`);
});

// GET with the given headers (Host and Origin included) on a fresh connection.
function getWith(port, path, headers, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('CORS is off by default; the Host header must name a loopback server', async () => {
  const evil = { Origin: 'https://evil.example' };
  const plain = await getWith(srv.port, '/v1/models', evil);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['access-control-allow-origin'], undefined);
  const pre = await getWith(srv.port, '/v1/chat/completions', { ...evil, 'Access-Control-Request-Method': 'POST' }, 'OPTIONS');
  assert.equal(pre.headers['access-control-allow-origin'], undefined);
  assert.equal(pre.headers['access-control-allow-methods'], undefined);
  // DNS rebinding: a page at evil.example resolved to 127.0.0.1 sends its own Host.
  const rebound = await getWith(srv.port, '/v1/models', { Host: `evil.example:${srv.port}` });
  assert.equal(rebound.status, 403, rebound.body);
  assert.equal(JSON.parse(rebound.body).error.code, 'host_not_allowed');
  for (const host of [`localhost:${srv.port}`, `127.0.0.1:${srv.port}`, `[::1]:${srv.port}`, 'LOCALHOST']) {
    const r = await getWith(srv.port, '/v1/models', { Host: host });
    assert.equal(r.status, 200, `${host}: ${r.body}`);
  }
});

test('--cors-origin allows the origins it names; --api-key still guards the API', async () => {
  const s2 = await startServer(['--cors-origin', 'https://app.example,http://localhost:3000', '--api-key', 'sekret']);
  const s3 = await startServer(['--cors-origin', '*', '--host', '0.0.0.0']);
  try {
    const auth = { Authorization: 'Bearer sekret' };
    const ok = await getWith(s2.port, '/v1/models', { ...auth, Origin: 'https://app.example' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(ok.headers.vary || '', /Origin/);
    const pre = await getWith(s2.port, '/v1/chat/completions', { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST' }, 'OPTIONS');
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://localhost:3000');
    assert.match(pre.headers['access-control-allow-headers'], /Authorization/);
    const other = await getWith(s2.port, '/v1/models', { ...auth, Origin: 'https://evil.example' });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    // The key: the API needs it, /health does not.
    assert.equal((await getWith(s2.port, '/v1/models', { Origin: 'https://app.example' })).status, 401);
    assert.equal((await getWith(s2.port, '/health', {})).status, 200);
    // "*" answers any origin; a server bound beyond loopback takes any Host.
    const any = await getWith(s3.port, '/health', { Origin: 'https://whoever.example', Host: 'my-box.lan' });
    assert.equal(any.status, 200);
    assert.equal(any.headers['access-control-allow-origin'], '*');
  } finally {
    await s2.stop();
    await s3.stop();
  }
});
