// The web playground in a real browser (Debian's Chromium, headless, via playwright-core),
// clicked through as a user would: the hint on an empty page, a streamed answer whose
// segments are coloured by the model that won them (hover: the candidates and their
// scores), tokens/s and who took part under it, markdown, the system prompt, stop, new
// chat, regenerate, JSON mode, the API-key box only where the server asks for a key, and
// the phone layout. Leaves screenshots in $COOLFUSION_OUT; with COOLFUSION_SCREENSHOTS=1
// also the README's docs/playground-desktop.png and docs/playground-phone.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, OUT, MODELS, ms } from './server.mjs';

const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const SHOTS = process.env.COOLFUSION_SCREENSHOTS === '1';
const DONE = '.msg.assistant[data-done="true"]';

let srv, browser;
before(async () => {
  srv = await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); await srv?.stop(); });

async function open(url, viewport = { width: 1100, height: 700 }) {
  const page = await browser.newPage({ viewport });
  await page.goto(url + '/');
  return page;
}

// Sends a message and waits until answer number n (1-based) is done.
async function ask(page, text, n) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  await page.waitForFunction((k) => document.querySelectorAll('.msg.assistant[data-done="true"]').length >= k,
    n, { timeout: ms(30000) });
}

test('playground shows a fused answer coloured by winning model, with candidates on hover', async () => {
  const page = await open(srv.url);
  // The empty page explains itself and names the loaded models.
  await page.waitForSelector('.legend span');
  assert.equal(await page.locator('.legend span').count(), 2);
  assert.equal(await page.isVisible('#hint'), true);
  const hint = await page.locator('#hint').innerText();
  assert.match(hint, /fused/);
  assert.match(hint, /Loaded: 2 models: m1 stories260K, m2 aidreams260K\./);
  assert.deepEqual(await page.locator('.legend span').allInnerTexts(), ['m1 stories260K', 'm2 aidreams260K']);
  // Every control has a label.
  for (const id of ['input', 'system', 'temperature', 'maxTokens', 'method', 'score', 'format']) {
    assert.ok((await page.locator(`label[for="${id}"]`).count()) === 1, `a label for #${id}`);
  }
  // No key needed: no key box.
  assert.equal(await page.isVisible('#keyBox'), false, 'no API-key box without --api-key');
  assert.equal(await page.isVisible('#regenerate'), true);
  assert.equal(await page.isDisabled('#regenerate'), true);
  await page.fill('#maxTokens', '48');
  // The default rule (auto) would let aidreams260K sit out of a story prompt; the paper's
  // mean keeps both models writing.
  assert.equal(await page.inputValue('#score'), 'auto');
  await page.selectOption('#score', 'mean');
  await ask(page, 'Once upon a time', 1);
  assert.equal(await page.isVisible('#hint'), false, 'the hint goes with the first message');
  const segs = page.locator('.msg.assistant .seg');
  const n = await segs.count();
  assert.ok(n > 5, `only ${n} segments`);
  const winners = new Set(await segs.evaluateAll((els) => els.map((e) => e.dataset.winner)));
  const colours = new Set(await segs.evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor)));
  assert.ok(winners.size >= 2, 'segments from both models');
  assert.equal(colours.size, winners.size, 'one colour per winning model');
  // Markdown rendering on finish: the plain story is one or more paragraphs of segments.
  assert.ok((await page.locator('.msg.assistant .body.md p .seg').count()) > 0, 'rendered as paragraphs');
  // Hover a segment that had competing candidates.
  const idx = await segs.evaluateAll((els) => els.findIndex((e) => e.dataset.winner === '1'));
  await segs.nth(Math.max(idx, 0)).hover();
  await page.waitForSelector('#tip', { state: 'visible' });
  const tip = await page.locator('#tip').innerText();
  assert.match(tip, /winner: m\d/);
  assert.match(tip, /PPL m1/);
  assert.match(tip, /score/);
  await page.mouse.move(0, 0);
  // How each model took part: bits per byte of the prompt and weight (mean: no prompt weights).
  const weights = await page.locator('.msg.assistant .weights').innerText();
  assert.match(weights, /score mean: m1 \S+ n\/a bits\/byte, weight 1; m2/);
  // Tokens/s and who took part, under the answer.
  assert.equal(await page.locator('.msg.assistant .stats').count(), 1, 'a tokens/s line under the answer');
  const stats = await page.locator('.msg.assistant .stats').innerText();
  assert.match(stats, /^\d+ tokens, \d+\.\d tokens\/s · took part: m1 stories260K \(weight 1\), m2 aidreams260K \(weight 1\)$/);
  assert.equal(await page.isDisabled('#regenerate'), false);
  // The default: prompt weights measured; the model that fits best has weight 1.
  await page.selectOption('#score', 'auto');
  await ask(page, 'Once upon a time', 2);
  const auto = await page.locator('.msg.assistant .weights').nth(1).innerText();
  assert.match(auto, /^score auto, prompt weights: m1 \S+ \d+\.\d+ bits\/byte, weight [\d.e-]+( \(sat out\))?; m2 \S+ \d+\.\d+ bits\/byte, weight [\d.e-]+( \(sat out\))?$/);
  assert.match(auto, /weight 1(;|$)/);
  const autoStats = await page.locator('.msg.assistant .stats').nth(1).innerText();
  assert.match(autoStats, /tokens\/s · took part: m\d /);
  if (/\(sat out\)/.test(auto)) assert.match(autoStats, / · sat out: m\d \S+ \(weight [\d.e-]+\)$/);
  // With the candidates of a segment shown, as a reader would hover one.
  await segs.nth(Math.max(idx, 0)).hover();
  await page.waitForSelector('#tip', { state: 'visible' });
  await page.screenshot({ path: `${OUT}/playground.png` });
  if (SHOTS) await page.screenshot({ path: `${DOCS}/playground-desktop.png` });
});

test('playground: system prompt and settings are sent; regenerate replaces the last answer; new chat clears', async () => {
  const page = await open(srv.url);
  await page.waitForSelector('.legend span');
  const bodies = [];
  page.on('request', (r) => { if (r.url().endsWith('/v1/chat/completions')) bodies.push(r.postDataJSON()); });
  await page.fill('#system', 'You tell short stories.');
  await page.fill('#temperature', '0');
  await page.fill('#maxTokens', '24');
  await page.selectOption('#method', 'rerank');
  await ask(page, 'Tell me a story', 1);
  assert.equal(bodies.length, 1);
  assert.deepEqual(bodies[0].messages, [
    { role: 'system', content: 'You tell short stories.' },
    { role: 'user', content: 'Tell me a story' },
  ]);
  assert.equal(bodies[0].max_tokens, 24);
  assert.equal(bodies[0].temperature, 0);
  assert.equal(bodies[0].stream, true);
  assert.equal(bodies[0].coolfusion.method, 'rerank');
  const first = await page.locator('.msg.assistant .body').innerText();
  // Regenerate: the last answer is asked for again (the conversation without it) and replaced.
  await page.locator('.msg.assistant').evaluate((e) => { e.dataset.old = '1'; });
  await page.fill('#temperature', '1');
  await page.click('#regenerate');
  await page.waitForSelector(DONE + ':not([data-old])', { timeout: ms(30000) });
  assert.equal(bodies.length, 2);
  assert.deepEqual(bodies[1].messages, bodies[0].messages, 'the same conversation, without the old answer');
  assert.equal(bodies[1].temperature, 1);
  assert.equal(await page.locator('.msg.assistant').count(), 1);
  assert.equal(await page.locator('.msg.assistant[data-old]').count(), 0);
  assert.equal(await page.locator('.msg.user').count(), 1);
  // The next turn carries the new answer, not the replaced one.
  const second = await page.locator('.msg.assistant .body').innerText();
  await ask(page, 'And then?', 2);
  assert.equal(bodies[2].messages.length, 4);
  assert.equal(bodies[2].messages[2].role, 'assistant');
  assert.equal(bodies[2].messages[2].content.trim(), second.trim());
  assert.ok(first.length > 0);
  // New chat: an empty page with its hint; the next request has no history.
  await page.click('#newChat');
  assert.equal(await page.locator('.msg').count(), 0);
  assert.equal(await page.isVisible('#hint'), true);
  assert.equal(await page.isDisabled('#regenerate'), true);
  await page.fill('#system', '');
  await ask(page, 'Once upon a time', 1);
  assert.deepEqual(bodies[3].messages, [{ role: 'user', content: 'Once upon a time' }]);
});

test('playground renders markdown over the coloured segments, and shows warnings', async () => {
  // A canned stream (the tiny models write no markdown): the page's renderer is what is tested.
  const page = await open(srv.url);
  await page.waitForSelector('.legend span');
  const seg = (text, winner) => ({ text, winner, winner_model: `w${winner}`, candidates: [] });
  const parts = [['# Tit', 0], ['le\n\nSome **bo', 1], ['ld** and *it*', 0], [' and `x = 1`.\n\n- one\n- t', 1],
    ['wo\n\n1. first\n2. second\n\n```\nco', 0], ['de <b>\n```\n', 1]];
  const chunk = (o) => `data: ${JSON.stringify(o)}\n\n`;
  let sse = chunk({ choices: [{ index: 0, delta: { role: 'assistant' } }] });
  for (const [text, w] of parts) {
    sse += chunk({ choices: [{ index: 0, delta: { content: text } }], coolfusion: { segment: seg(text, w) } });
  }
  sse += chunk({
    choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
    coolfusion: { score: 'auto', prompt_weights: true, warnings: ['model m1 left the ensemble'],
      models: [{ model: 'a', prompt_bits_per_byte: 1.5, weight: 1, sat_out: false, active: true },
        { model: 'b', prompt_bits_per_byte: 4.25, weight: 0.0001, sat_out: true, active: false },
        { model: 'c', prompt_bits_per_byte: null, weight: 0, sat_out: false, active: false }] },
    timings: { predicted_n: 12, predicted_per_second: 30 },
  });
  sse += 'data: [DONE]\n\n';
  await page.route('**/v1/chat/completions', (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: sse }));
  await ask(page, 'markdown please', 1);
  const md = page.locator('.msg.assistant .body');
  assert.equal(await md.locator('h1').count(), 1, 'a heading');
  assert.equal(await md.locator('h1').innerText(), 'Title');
  // The heading is cut across two segments: both colours kept inside it.
  assert.deepEqual(await md.locator('h1 .seg').evaluateAll((els) => els.map((e) => e.dataset.winner)), ['0', '1']);
  assert.equal(await md.locator('p strong').innerText(), 'bold');
  assert.equal(await md.locator('p strong .seg').count(), 2);
  assert.equal(await md.locator('p em').innerText(), 'it');
  assert.equal(await md.locator('p code').innerText(), 'x = 1');
  assert.deepEqual(await md.locator('ul li').allInnerTexts(), ['one', 'two']);
  assert.deepEqual(await md.locator('ol li').allInnerTexts(), ['first', 'second']);
  assert.equal(await md.locator('pre code').innerText(), 'code <b>');  // model text is never HTML
  assert.equal(await md.locator('pre code b').count(), 0);
  const text = await md.innerText();
  assert.doesNotMatch(text, /\*\*|`|^#/m);
  assert.equal(await page.locator('.msg.assistant .stats').count(), 1, 'a tokens/s line under the answer');
  const stats = await page.locator('.msg.assistant .stats').innerText();
  assert.equal(stats, '12 tokens, 30.0 tokens/s · took part: m1 a (weight 1) · sat out: m2 b (weight 0.0001) · left out: m3 c (weight 0)');
  assert.equal(await page.locator('.msg.assistant .warn').innerText(), '⚠ model m1 left the ensemble');
});

test('playground stop: aborts a long answer, keeps the partial text, and the server frees the slot; the API-key box appears only when the server asks for a key', async () => {
  // Two random-weight models never end an answer by themselves; the server asks for a key.
  const long = process.env.COOLFUSION_LONG_MODEL;
  const keyed = await startServer(['--api-key', 'sekret', '-np', '1', '-c', '4096', '--max-tokens', '4096'],
    long ? [long, long] : MODELS);
  try {
    const page = await open(keyed.url);
    await page.waitForSelector('#keyBox', { state: 'visible' });
    assert.equal(await page.locator('.legend span').count(), 0);
    await page.fill('#apiKey', 'wrong');
    await page.click('#keySave');
    await page.waitForFunction(() => document.getElementById('keyMsg').textContent !== '');
    assert.match(await page.locator('#keyMsg').innerText(), /refused/);
    await page.fill('#apiKey', 'sekret');
    await page.click('#keySave');
    await page.waitForSelector('.legend span');
    assert.equal(await page.locator('#keyMsg').innerText(), '');
    // A reload remembers the key.
    await page.reload();
    await page.waitForSelector('.legend span');
    assert.equal(await page.isVisible('#keyBox'), true);
    await page.fill('#maxTokens', '2048');
    await page.fill('#input', 'Once upon a time');
    await page.click('#send');
    await page.waitForFunction(() => document.querySelectorAll('.msg.assistant .seg').length >= 3, null, { timeout: ms(30000) });
    assert.equal(await page.isVisible('#stop'), true);
    assert.equal(await page.isDisabled('#send'), true);
    await page.click('#stop');
    await page.waitForSelector('.msg.assistant[data-stopped="true"]', { timeout: ms(5000) });
    assert.equal(await page.isVisible('#stop'), false);
    assert.equal(await page.isDisabled('#send'), false);
    const segs = await page.locator('.msg.assistant .seg').count();
    const partial = await page.locator('.msg.assistant .body').innerText();
    assert.ok(segs >= 3 && partial.length > 0, 'the partial answer stays');
    assert.match(await page.locator('.msg.assistant .stopped').innerText(), /^stopped after \d+\.\d s$/);
    // Nothing more arrives, and the server cancels the generation (its only slot frees).
    await page.waitForTimeout(300);
    assert.equal(await page.locator('.msg.assistant .seg').count(), segs);
    const t0 = Date.now();
    for (;;) {
      const h = await (await fetch(keyed.url + '/health')).json();
      if (h.slots_busy === 0) break;
      assert.ok(Date.now() - t0 < ms(3000), 'the slot is freed after stop');
      await new Promise((r) => setTimeout(r, 50));
    }
    // A stopped answer can be regenerated.
    assert.equal(await page.isDisabled('#regenerate'), false);
  } finally {
    await keyed.stop();
  }
});

test('playground at phone width: no horizontal scroll, the send box visible, settings in a drawer', async () => {
  const vp = { width: 390, height: 844 };
  const page = await open(srv.url, vp);
  await page.waitForSelector('.legend span');
  const noHScroll = () => page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)
    <= window.innerWidth && document.getElementById('scroll').scrollWidth <= document.getElementById('scroll').clientWidth);
  assert.equal(await noHScroll(), true, 'no horizontal scroll on the empty page');
  // The settings are behind a button; the message box and Send are on screen.
  assert.equal(await page.isVisible('#maxTokens'), false);
  for (const sel of ['#input', '#send', '#settingsToggle', '#newChat']) {
    assert.equal(await page.isVisible(sel), true, `${sel} visible`);
    const b = await page.locator(sel).boundingBox();
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= vp.width && b.y + b.height <= vp.height, `${sel} on screen: ${JSON.stringify(b)}`);
  }
  await page.click('#settingsToggle');
  assert.equal(await page.isVisible('#maxTokens'), true);
  const drawer = await page.locator('#settings').boundingBox();
  assert.ok(drawer.x >= 0 && drawer.x + drawer.width <= vp.width, 'the drawer fits the screen');
  await page.fill('#maxTokens', '40');
  await page.selectOption('#score', 'mean');
  await page.click('#settingsClose');
  assert.equal(await page.isVisible('#maxTokens'), false);
  await ask(page, 'Once upon a time', 1);
  assert.equal(await noHScroll(), true, 'no horizontal scroll with an answer');
  const b = await page.locator('#input').boundingBox();
  assert.ok(b.y + b.height <= vp.height, 'the send box stays on screen under an answer');
  await page.screenshot({ path: `${OUT}/playground-phone.png` });
  if (SHOTS) await page.screenshot({ path: `${DOCS}/playground-phone.png` });
});

test('playground JSON mode: a schema box, and the answer follows it, pretty-printed', async () => {
  // A new conversation (the tiny models' contexts hold little history).
  const page = await open(srv.url);
  await page.waitForSelector('.legend span');
  assert.equal(await page.isVisible('#schema'), false);
  await page.selectOption('#format', 'json_schema');
  assert.equal(await page.isVisible('#schema'), true);
  await page.fill('#schema', JSON.stringify({ type: 'object', properties: { name: { type: 'string', maxLength: 20 }, n: { type: 'integer' } }, required: ['name', 'n'] }));
  await page.fill('#maxTokens', '80');
  await ask(page, 'Tell me a name.', 1);
  const pretty = await page.locator('.msg.assistant pre.json').last().innerText();
  const value = JSON.parse(pretty);
  assert.equal(typeof value.name, 'string');
  assert.ok(Number.isInteger(value.n));
  assert.match(pretty, /^\{\n  "/);  // indented, one key per line
  // Any JSON object.
  await page.selectOption('#format', 'json_object');
  assert.equal(await page.isVisible('#schema'), false);
  await page.screenshot({ path: `${OUT}/playground-json.png` });
  console.log(`screenshots: ${OUT}/playground.png, ${OUT}/playground-phone.png, ${OUT}/playground-json.png` +
    (SHOTS ? `, ${DOCS}playground-desktop.png, ${DOCS}playground-phone.png` : ''));
});
