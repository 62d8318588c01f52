// The web playground in a real browser (Debian's Chromium, headless, via playwright-core):
// a fused answer whose segments are coloured by the model that won them, and a hover
// that shows the candidates and their scores. Leaves a screenshot in $COOLFUSION_OUT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startServer, OUT, ms } from './server.mjs';

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

test('playground shows a fused answer coloured by winning model, with candidates on hover', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  await page.goto(srv.url + '/');
  await page.waitForSelector('.legend span');
  assert.equal(await page.locator('.legend span').count(), 2);
  await page.fill('#maxTokens', '48');
  // The default rule (auto) would let aidreams260K sit out of a story prompt; the paper's
  // mean keeps both models writing.
  assert.equal(await page.inputValue('#score'), 'auto');
  await page.selectOption('#score', 'mean');
  await page.fill('#input', 'Once upon a time');
  await page.click('#send');
  await page.waitForSelector('.msg.assistant[data-done="true"]', { timeout: ms(30000) });
  const segs = page.locator('.msg.assistant .seg');
  const n = await segs.count();
  assert.ok(n > 5, `only ${n} segments`);
  const winners = new Set(await segs.evaluateAll((els) => els.map((e) => e.dataset.winner)));
  const colours = new Set(await segs.evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor)));
  assert.ok(winners.size >= 2, 'segments from both models');
  assert.equal(colours.size, winners.size, 'one colour per winning model');
  // Hover a segment that had competing candidates.
  const idx = await segs.evaluateAll((els) => els.findIndex((e) => e.dataset.winner === '1'));
  await segs.nth(Math.max(idx, 0)).hover();
  await page.waitForSelector('#tip', { state: 'visible' });
  const tip = await page.locator('#tip').innerText();
  assert.match(tip, /winner: m\d/);
  assert.match(tip, /PPL m0/);
  assert.match(tip, /score/);
  // How each model took part: bits per byte of the prompt and weight (mean: no prompt weights).
  const weights = await page.locator('.msg.assistant .weights').innerText();
  assert.match(weights, /score mean: m0 \S+ n\/a bits\/byte, weight 1; m1/);
  // The default: prompt weights measured; the model that fits best has weight 1.
  await page.selectOption('#score', 'auto');
  await page.fill('#input', 'Once upon a time');
  await page.click('#send');
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant .weights').length === 2,
    null, { timeout: ms(30000) });
  const auto = await page.locator('.msg.assistant .weights').nth(1).innerText();
  assert.match(auto, /^score auto, prompt weights: m0 \S+ \d+\.\d+ bits\/byte, weight [\d.e-]+( \(sat out\))?; m1 \S+ \d+\.\d+ bits\/byte, weight [\d.e-]+( \(sat out\))?$/);
  assert.match(auto, /weight 1(;|$)/);
  await page.screenshot({ path: `${OUT}/playground.png` });
});

test('playground JSON mode: a schema box, and the answer follows it, pretty-printed', async () => {
  // A new conversation (the tiny models' contexts hold little history).
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  await page.goto(srv.url + '/');
  await page.waitForSelector('.legend span');
  assert.equal(await page.isVisible('#schema'), false);
  await page.selectOption('#format', 'json_schema');
  assert.equal(await page.isVisible('#schema'), true);
  await page.fill('#schema', JSON.stringify({ type: 'object', properties: { name: { type: 'string', maxLength: 20 }, n: { type: 'integer' } }, required: ['name', 'n'] }));
  await page.fill('#maxTokens', '80');
  await page.fill('#input', 'Tell me a name.');
  await page.click('#send');
  await page.waitForSelector('.msg.assistant[data-done="true"]', { timeout: ms(30000) });
  const pretty = await page.locator('.msg.assistant pre.json').last().innerText();
  const value = JSON.parse(pretty);
  assert.equal(typeof value.name, 'string');
  assert.ok(Number.isInteger(value.n));
  assert.match(pretty, /^\{\n  "/);  // indented, one key per line
  // Any JSON object.
  await page.selectOption('#format', 'json_object');
  assert.equal(await page.isVisible('#schema'), false);
  await page.screenshot({ path: `${OUT}/playground-json.png` });
  console.log(`screenshots: ${OUT}/playground.png, ${OUT}/playground-json.png`);
});
