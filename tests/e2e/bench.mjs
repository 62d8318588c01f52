// Token rate of `coolfusion serve` with 1 and with 4 concurrent streaming requests, side
// by side in one run:  node tests/e2e/bench.mjs  (env as for the tests; -np 4).
import { startServer, readSse } from './server.mjs';

const SECONDS = Number(process.env.COOLFUSION_BENCH_SECONDS || 20);
const srv = await startServer(['-np', '4', '--max-queue', '16']);
async function rate(concurrency) {
  let tokens = 0;
  const t0 = Date.now();
  const deadline = t0 + SECONDS * 1000;
  await Promise.all(Array.from({ length: concurrency }, async (_, i) => {
    while (Date.now() < deadline) {
      const res = await fetch(srv.url + '/v1/completions', { method: 'POST', body: JSON.stringify({
        prompt: ['Once upon a time', 'The little dog', 'In the park'][i % 3], max_tokens: 64, stream: true,
        stream_options: { include_usage: true } }) });
      const { events } = await readSse(res);
      const u = events.find((e) => e.usage);
      tokens += u ? u.usage.completion_tokens : 0;
    }
  }));
  return tokens / ((Date.now() - t0) / 1000);
}
const one = await rate(1);
const four = await rate(4);
console.log(`models: ${process.env.COOLFUSION_MODELS}`);
console.log(`1 concurrent request:  ${one.toFixed(1)} tokens/s`);
console.log(`4 concurrent requests: ${four.toFixed(1)} tokens/s (${(four / one).toFixed(2)}x; goal >= 2.5x)`);
await srv.stop();
