// Hostile requests (issue 22), as an attacker sends them: each single request below once took
// the server's memory or a core without limit. Each must now be a 4xx naming the field,
// within 2 s, with the server's RSS growing by less than 200 MB over them all, and the
// server answering an ordinary request after.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, ms } from './server.mjs';

let srv;
before(async () => {
  // A body limit large enough for the largest schema below (80,000 properties: 2.3 MB).
  srv = await startServer(['--max-body', String(8 << 20)]);
});
after(async () => {
  await srv.stop();
});

function optionalProperties(n) {
  const properties = {};
  for (let i = 0; i < n; ++i) properties[`p${i}`] = { type: 'integer' };
  return { type: 'object', properties };
}

const chat = (extra) => ({ messages: [{ role: 'user', content: 'Write JSON.' }], max_tokens: 8, ...extra });
const schema = (s) => chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: s } } });

// [what, body, a text the error must contain]
const ATTACKS = [
  ['grammar repetition with min > max', chat({ grammar: 'root ::= "a"{3,2}' }), 'minimum is above its maximum'],
  ['grammar repetition over the limit', chat({ grammar: 'root ::= "a"{0,100000}' }), 'a count above 2000'],
  ['string minLength > maxLength', schema({ type: 'string', minLength: 10, maxLength: 2 }), 'minLength (10) is above maxLength (2)'],
  ['array minItems > maxItems', schema({ type: 'array', items: { type: 'string' }, minItems: 5, maxItems: 1 }), 'minItems (5) is above maxItems (1)'],
  ['integer minimum > maximum', schema({ type: 'integer', minimum: 9, maximum: 3 }), 'minimum (9) is above maximum (3)'],
  ['minLength 2^64', '{"messages": [{"role": "user", "content": "x"}], "json_schema": {"type": "string", "minLength": 18446744073709551616}}', 'minLength must be an integer from 0 to 2000'],
  ['llama-server json_schema with min > max', chat({ json_schema: { type: 'string', minLength: 10, maxLength: 2 } }), 'minLength (10) is above maxLength (2)'],
  ['2,000 optional properties', schema(optionalProperties(2000)), 'optional properties'],
  ['10,000 optional properties', schema(optionalProperties(10000)), 'properties'],
  ['80,000 optional properties', schema(optionalProperties(80000)), 'properties'],
];

test('each hostile schema or grammar is a 400 naming the field within 2 s, memory bounded', async () => {
  const rssStart = srv.rssKb();
  let rssMost = rssStart;
  const sampler = setInterval(() => { rssMost = Math.max(rssMost, srv.rssKb()); }, 20);
  try {
    for (const [what, body, want] of ATTACKS) {
      const t0 = Date.now();
      const res = await fetch(`${srv.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      const took = Date.now() - t0;
      rssMost = Math.max(rssMost, srv.rssKb());
      assert.equal(res.status, 400, `${what}: ${text}`);
      assert.ok(JSON.parse(text).error.message.includes(want), `${what}: ${text}`);
      assert.ok(took < ms(2000), `${what}: answered in ${took} ms`);
    }
  } finally {
    clearInterval(sampler);
  }
  const growthMb = (rssMost - rssStart) / 1024;
  assert.ok(growthMb < 200, `RSS grew by ${growthMb.toFixed(0)} MB`);
  // The server still serves.
  const ok = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(schema({ type: 'string', minLength: 1, maxLength: 5 })),
  });
  assert.equal(ok.status, 200, await ok.text());
});
