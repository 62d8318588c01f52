// Starts `coolfusion serve` on a free loopback port for a test and stops it after.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const BIN = process.env.COOLFUSION_BIN;
export const MODELS = (process.env.COOLFUSION_MODELS || '').split(',').filter(Boolean);
export const OUT = process.env.COOLFUSION_OUT || '.';
// Multiplies the tests' time bounds: 1 in the normal build, larger under sanitizers (ctest
// sets it from COOLFUSION_TEST_TIME_SCALE; see tests/CMakeLists.txt).
export const TIME_SCALE = Number(process.env.COOLFUSION_TEST_TIME_SCALE || 1);
export const ms = (n) => n * TIME_SCALE;
if (!BIN || MODELS.length === 0) {
  throw new Error('set COOLFUSION_BIN and COOLFUSION_MODELS (ctest does: see tests/CMakeLists.txt)');
}

export async function startServer(extra = [], models = MODELS) {
  const args = ['serve', '--port', '0'];
  for (const m of models) args.push('-m', m);
  args.push(...extra);
  const proc = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start: ' + log)), ms(30000));
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${log}`)); });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    proc, port, url,
    log: () => log,
    rssKb: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))[1]),
    // SIGTERM, and SIGKILL if the server has not exited 5 s later (a slow shutdown must not
    // hang the test run; it is reported on stderr).
    stop: () => new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const timer = setTimeout(() => {
        console.error('server did not exit 5 s after SIGTERM; killing it');
        proc.kill('SIGKILL');
      }, 5000);
      proc.once('exit', () => { clearTimeout(timer); resolve(); });
      proc.kill('SIGTERM');
    }),
  };
}

export async function health(url) {
  return (await fetch(url + '/health')).json();
}

// Reads an SSE response body; returns {events, done}.
export async function readSse(res) {
  const text = await res.text();
  const events = [];
  let done = false;
  for (const block of text.split('\n\n')) {
    if (!block.startsWith('data: ')) continue;
    const data = block.slice(6);
    if (data === '[DONE]') done = true;
    else events.push(JSON.parse(data));
  }
  return { events, done };
}
