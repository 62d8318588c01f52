// 8 concurrent streaming clients for COOLFUSION_SOAK_SECONDS (default 120): no errors,
// every stream completes with [DONE], RSS flat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, readSse } from './server.mjs';

const SECONDS = Number(process.env.COOLFUSION_SOAK_SECONDS || 120);
const CLIENTS = 8;

test(`${CLIENTS} concurrent streaming clients for ${SECONDS} s`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const srv = await startServer(['-np', '4', '--max-queue', '16']);
  try {
    const prompts = ['Once upon a time', 'The little dog', 'She opened the door', 'In the park', 'A big red ball'];
    let completed = 0, errors = 0, tokens = 0;
    const stats = { first: 0 };
    const deadline = Date.now() + SECONDS * 1000;
    let rssStart = 0;
    const warm = setTimeout(() => { rssStart = srv.rssKb(); }, Math.min(10000, SECONDS * 250));
    async function client(i) {
      let n = 0;
      while (Date.now() < deadline) {
        try {
          const res = await fetch(srv.url + '/v1/chat/completions', { method: 'POST', signal: AbortSignal.timeout(60000),
            body: JSON.stringify({
            messages: [{ role: 'user', content: prompts[(i + n++) % prompts.length] }], max_tokens: 32, stream: true,
            stream_options: { include_usage: true } }) });
          if (res.status !== 200) { errors++; continue; }
          const { events, done } = await readSse(res);
          if (!done) { errors++; continue; }
          const usage = events.find((e) => e.usage);
          tokens += usage ? usage.usage.completion_tokens : 0;
          completed++;
        } catch (e) {
          errors++;
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    clearTimeout(warm);
    const rssEnd = srv.rssKb();
    const growth = rssStart ? (rssEnd - rssStart) / rssStart : 0;
    console.log(`soak: ${completed} streams completed, ${errors} errors, ${tokens} tokens in ${SECONDS} s; ` +
      `RSS ${rssStart} kB after warm-up -> ${rssEnd} kB at end (${(100 * growth).toFixed(1)}%)`);
    assert.equal(errors, 0);
    assert.ok(completed > CLIENTS);
    // Under AddressSanitizer freed memory sits in quarantine and its allocator keeps
    // pages, so the sanitized run passes a looser bound (tests/CMakeLists.txt).
    const maxGrowth = Number(process.env.COOLFUSION_SOAK_MAX_RSS_GROWTH || 0.05);
    assert.ok(growth < maxGrowth, `RSS grew ${(100 * growth).toFixed(1)}% (bound ${100 * maxGrowth}%)`);
  } finally {
    await srv.stop();
  }
});
