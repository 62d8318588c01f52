// Many users at once on `serve -np 8` (one context per model for every slot, the slots'
// decodes batched): eight concurrent streams write what each request writes alone; one of
// them cancelled leaves the others unchanged; /metrics and /slots show the batching; an
// identical prompt sent twice reuses all but its last token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, readSse, ms } from './server.mjs';

const PROMPTS = ['Once upon a time', 'The little dog', 'She opened the door', 'In the park',
  'A big red ball', 'Tom and Lily went', 'The sun was', 'One day a cat'];

async function complete(url, prompt) {
  const res = await fetch(url + '/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: 24, temperature: 0, stream: true }),
  });
  assert.equal(res.status, 200);
  const { events, done } = await readSse(res);
  assert.ok(done, 'the stream ended without [DONE]');
  return events.map((e) => e.choices?.[0]?.text ?? '').join('');
}

test('-np 8: eight streams at once write their texts alone; one cancelled leaves the others as they were', { timeout: ms(300000) }, async () => {
  const srv = await startServer(['-np', '8']);
  try {
    const alone = [];
    for (const p of PROMPTS) alone.push(await complete(srv.url, p));
    // All eight at once; the fourth is cancelled after its first text arrives.
    const abort = new AbortController();
    const cancelled = (async () => {
      const res = await fetch(srv.url + '/v1/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: abort.signal,
        body: JSON.stringify({ prompt: PROMPTS[3], max_tokens: 400, temperature: 0, stream: true }),
      });
      const reader = res.body.getReader();
      await reader.read();
      abort.abort();
    })().catch((e) => { if (e.name !== 'AbortError') throw e; });
    const together = await Promise.all(PROMPTS.map((p, i) => (i === 3 ? cancelled.then(() => null) : complete(srv.url, p))));
    for (let i = 0; i < PROMPTS.length; ++i) {
      if (i === 3) continue;
      assert.equal(together[i], alone[i], `prompt ${i}: ${PROMPTS[i]}`);
    }
    // The slots did share decodes, and the server says how.
    const metrics = await (await fetch(srv.url + '/metrics')).text();
    const max = [...metrics.matchAll(/^coolfusion_batch_max_slots\{model="[^"]+"\} (\d+)/gm)].map((m) => Number(m[1]));
    assert.equal(max.length, 2, metrics);
    assert.ok(Math.max(...max) >= 2, metrics);
    assert.match(metrics, /^coolfusion_slot_wait_seconds_total\{slot="7"\} /m);
    const slots = await (await fetch(srv.url + '/slots')).json();
    assert.equal(slots.length, 8);
    const batches = slots.map((s) => s.coolfusion.batching.batches);
    assert.ok(batches.filter((b) => b > 0).length >= 7, JSON.stringify(batches));
    assert.ok(slots.some((s) => s.coolfusion.batching.mean_slots_per_decode > 1));
    // The cancelled stream's slot is free again: a ninth request after it runs at once.
    assert.equal(await complete(srv.url, PROMPTS[0]), alone[0]);
  } finally {
    await srv.stop();
  }
});

test('-np 4: an identical prompt sent twice reuses all but its last token', { timeout: ms(120000) }, async () => {
  const srv = await startServer(['-np', '4']);
  try {
    const ask = async () => {
      const res = await fetch(srv.url + '/v1/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'Once upon a time there was a little dog named', max_tokens: 4, temperature: 0 }),
      });
      assert.equal(res.status, 200);
      return (await res.json()).usage;
    };
    await ask();
    const u = await ask();
    assert.equal(u.prompt_tokens_details.cached_tokens, u.prompt_tokens - 1, JSON.stringify(u));
  } finally {
    await srv.stop();
  }
});
