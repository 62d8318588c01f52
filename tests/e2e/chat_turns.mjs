// A 10-turn chat through /v1/chat/completions, history sent whole each turn as clients do
// (each user turn ~100 tokens of prose): time to the first streamed segment and the
// prompt tokens served from the cache, per turn, with the prompt cache and without it
// (cache_prompt: false), in one run.
//   COOLFUSION_BIN=build/bin/coolfusion COOLFUSION_MODELS=a.gguf,b.gguf node tests/e2e/chat_turns.mjs
// scripts/chat_turns.sh runs it on the bench-size models. A short request first warms the
// server (page cache, first allocations), so that turn 1 is not a cold start. Env:
// COOLFUSION_TURNS (10), COOLFUSION_MAX_TOKENS (16 per reply), COOLFUSION_COMPARE (1: also
// the chat without the cache; 0: skip it), COOLFUSION_OUT (folder for chat_turns.json),
// COOLFUSION_SERVE_ARGS (more `serve` flags, space-separated, e.g. "--max-segment-tokens 8").
import { writeFileSync } from 'node:fs';
import { startServer, OUT } from './server.mjs';

const TURNS = Number(process.env.COOLFUSION_TURNS || 10);
const MAX_TOKENS = Number(process.env.COOLFUSION_MAX_TOKENS || 16);
const COMPARE = (process.env.COOLFUSION_COMPARE ?? '1') !== '0';
// ~100 tokens each (70-80 words): plain English, different on every turn.
const SENTENCES = [
  'The old lighthouse keeper climbed the narrow stairs every evening to light the lamp,',
  'and from the top he could see the fishing boats coming home across the grey water.',
  'His daughter had left the island years ago to study medicine in a city far away,',
  'but she still wrote to him every week about her patients, her friends and the weather.',
  'One winter a storm broke the radio, and for nine days nobody on the mainland heard from him.',
  'When the sea finally calmed, a small boat arrived with bread, letters and a new battery,',
  'and the young sailor who brought them stayed for tea and asked about the old stories.',
  'They talked about shipwrecks, about the seals that slept on the rocks below the tower,',
  'and about the strange light that some sailors claimed to have seen far out at sea.',
  'Before he left, the sailor promised to come back in spring with the keeper\'s daughter.',
];
function userTurn(t) {
  const parts = [];
  for (let i = 0; i < 5; i++) parts.push(SENTENCES[(t * 3 + i) % SENTENCES.length]);
  return `Turn ${t + 1}. ${parts.join(' ')} What happens next?`;
}

async function chat(srv, cache) {
  const messages = [];
  const rows = [];
  for (let t = 0; t < TURNS; t++) {
    messages.push({ role: 'user', content: userTurn(t) });
    const t0 = performance.now();
    const res = await fetch(srv.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({
      messages, max_tokens: MAX_TOKENS, stream: true, stream_options: { include_usage: true },
      cache_prompt: cache }) });
    if (res.status !== 200) throw new Error(`turn ${t + 1}: HTTP ${res.status} ${await res.text()}`);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '', first = null, text = '', usage = null, timings = null;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        if (!block.startsWith('data: ') || block === 'data: [DONE]') continue;
        const ev = JSON.parse(block.slice(6));
        if (ev.error) throw new Error(`turn ${t + 1}: ${ev.error.message}`);
        const delta = ev.choices?.[0]?.delta?.content;
        if (delta) {
          if (first === null) first = performance.now() - t0;
          text += delta;
        }
        if (ev.usage) usage = ev.usage;
        if (ev.timings) timings = ev.timings;
      }
    }
    const total = performance.now() - t0;
    messages.push({ role: 'assistant', content: text });
    // What the cache could hold: the previous prompt and the reply the models wrote.
    const prev = rows.length ? rows[rows.length - 1] : null;
    const history = prev ? prev.prompt_tokens + prev.completion_tokens : 0;
    rows.push({ turn: t + 1, first_segment_ms: first ?? total, total_ms: total,
      prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens,
      cached_tokens: usage.prompt_tokens_details.cached_tokens, history_tokens: history,
      prompt_ms: timings?.prompt_ms ?? null });
  }
  return rows;
}

const EXTRA = (process.env.COOLFUSION_SERVE_ARGS || '').split(' ').filter(Boolean);
const srv = await startServer(['-np', '1', ...EXTRA]);
try {
  const warm = await fetch(srv.url + '/v1/completions', { method: 'POST',
    body: JSON.stringify({ prompt: 'Warm-up.', max_tokens: 4, cache_prompt: false }) });
  await warm.json();
  const cached = await chat(srv, true);
  const fresh = COMPARE ? await chat(srv, false) : cached.map((r) => ({ ...r, first_segment_ms: NaN }));
  console.log(`models: ${process.env.COOLFUSION_MODELS}`);
  console.log('| turn | prompt tokens | cached (of the prompt) | of the history | prompt, cache (ms) | first segment, cache (ms) | prompt, no cache (ms) | first segment, no cache (ms) |');
  console.log('|---|---|---|---|---|---|---|---|');
  const pct = (a, b) => (b > 0 ? `${(100 * a / b).toFixed(0)}%` : '-');
  for (let i = 0; i < cached.length; i++) {
    const c = cached[i], f = fresh[i];
    console.log(`| ${c.turn} | ${c.prompt_tokens} | ${c.cached_tokens} (${pct(c.cached_tokens, c.prompt_tokens)}) | ` +
      `${pct(c.cached_tokens, c.history_tokens)} | ${c.prompt_ms.toFixed(0)} | ${c.first_segment_ms.toFixed(0)} | ` +
      `${COMPARE ? f.prompt_ms.toFixed(0) : '-'} | ${COMPARE ? f.first_segment_ms.toFixed(0) : '-'} |`);
  }
  const last = cached.length - 1;
  const ratio = cached[last].first_segment_ms / cached[0].first_segment_ms;
  const ratioFresh = fresh[last].first_segment_ms / fresh[0].first_segment_ms;
  const minShare = Math.min(...cached.slice(1).map((r) => r.cached_tokens / r.prompt_tokens));
  const minHistory = Math.min(...cached.slice(1).map((r) => r.cached_tokens / r.history_tokens));
  console.log(`turn ${TURNS} / turn 1, time to the first segment: ${ratio.toFixed(2)}x with the cache ` +
    `(goal <= 1.5x), ${ratioFresh.toFixed(2)}x without`);
  console.log(`cached share of the prompt from turn 2 on: at least ${(100 * minShare).toFixed(1)}% ` +
    `(goal >= 90%); of the history (previous prompt + reply): at least ${(100 * minHistory).toFixed(1)}%`);
  writeFileSync(`${OUT}/chat_turns.json`, JSON.stringify({ models: process.env.COOLFUSION_MODELS, cached, fresh,
    ratio, ratio_without_cache: ratioFresh, min_cached_share: minShare, min_history_share: minHistory }, null, 2));
} finally {
  await srv.stop();
}
