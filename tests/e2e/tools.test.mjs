// OpenAI tool calls through the server, as clients see them: the official openai client
// (tools, tool_choice auto / none / required / named, parallel_tool_calls, streamed and
// not) on three models whose real chat templates have three native tool-call formats
// (Qwen 2.5's <tool_call>, Llama 3.1's bare JSON, Mistral Nemo's [TOOL_CALLS]; made by
// tests/CMakeLists.txt) and on the pretrained tiny models, which have no template. Every
// call's arguments are checked by a real JSON-schema validator (ajv, strict) against its
// tool's schema, and each answer with calls gets a second turn with the tools' results.
// Then LangChain JS's tool loop, unchanged client code, and the refusals: a 400 naming the
// field, never a 5xx.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import Ajv from 'ajv';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { startServer, ms, readSse } from './server.mjs';

const TOOL_MODELS = (process.env.COOLFUSION_TOOL_MODELS || '').split(',').filter(Boolean);
if (TOOL_MODELS.length === 0) {
  throw new Error('set COOLFUSION_TOOL_MODELS (ctest does: see tests/CMakeLists.txt)');
}

// Small schemas: required strings, integers and enums, bounded so that a call is short (the
// answers are held to a grammar, which costs per token on 150K-token vocabularies).
const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The current weather in a city.',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string', maxLength: 12 },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        },
        required: ['city', 'unit'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'add',
      description: 'Adds two integers.',
      parameters: {
        type: 'object',
        properties: {
          a: { type: 'integer', minimum: -100, maximum: 100 },
          b: { type: 'integer', minimum: -100, maximum: 100 },
        },
        required: ['a', 'b'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'find_books',
      description: 'Books about a topic.',
      parameters: {
        type: 'object',
        properties: {
          topic: { type: 'string', maxLength: 12 },
          limit: { type: 'integer', minimum: 1, maximum: 20 },
          order: { enum: ['newest', 'oldest', 'popular'] },
        },
        required: ['topic', 'limit', 'order'],
        additionalProperties: false,
      },
    },
  },
];
const ajv = new Ajv({ strict: true });
const VALIDATE = Object.fromEntries(TOOLS.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const QUESTIONS = [
  'What is the weather in Paris?', 'Add 3 and 4.', 'Find me three books about cats.',
  'Is it raining in Tokyo? Use celsius.', 'Once upon a time', 'What is 12 plus 30?',
  'Lily and Ben went to the park.', 'Any new books on space?', 'Hello!', 'Call a tool.',
];
const CHOICES = ['auto', 'none', 'required', 'named'];
const MAX_TOKENS = { auto: 120, none: 48, required: 200, named: 200 };
const FINISHES = ['stop', 'length', 'tool_calls'];

// The 50 requests on the tiny models. On the template models 20 by default: their
// answers are held to a grammar that masks a 150K-token vocabulary at every step (random
// models pick a token the grammar refuses nearly every time), about 60 ms a token against
// 4 ms unheld, so a call costs about 3 s and 50 requests about 150 s on 2 cores.
// COOLFUSION_TOOLS_REQUESTS=50 runs 50 on both. Under the sanitizers (the mask several
// times slower again) 6 and 4, one call an answer, and LangChain's first round only.
const SANITIZED = ms(1) > 1;
const N_ASKED = Number(process.env.COOLFUSION_TOOLS_REQUESTS) || 0;
const N_TINY = N_ASKED || (SANITIZED ? 6 : 50);
const N_TEMPLATES = N_ASKED || (SANITIZED ? 4 : 20);

// Two servers, one thread each, whose tests run side by side (describe's concurrency
// below): the grammar work is one thread's, so each gets a core of the two. Each GGUF's
// template is rendered by llama.cpp's Jinja engine (the default).
let tools, tiny;
before(async () => {
  // --max-body: the 1 MB description below must meet the tools' limit, not the body's.
  [tools, tiny] = await Promise.all([
    startServer(['-t', '1', '--max-body', '4194304'], TOOL_MODELS),
    startServer(['-t', '1']),
  ]);
});
// The CPU seconds a server has used (its wall time depends on the machine's other load).
function cpuSeconds(srv) {
  const f = readFileSync(`/proc/${srv.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;  // utime + stime, in clock ticks
}
after(async () => {
  for (const [label, srv] of [['templates', tools], ['tiny', tiny]]) {
    if (srv?.proc.exitCode === null) console.log(`${label} server: ${cpuSeconds(srv)} CPU s`);
  }
  await tools?.stop();
  await tiny?.stop();
});

const client = (srv) =>
  new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'x', maxRetries: 0, timeout: ms(60000) });

// Request i of the sweep: tool_choice by i % 4, streamed every other four, 2 or 3 tools,
// parallel_tool_calls false for every third (for all under the sanitizers).
function sweepBody(i) {
  const tools = i % 3 === 0 ? TOOLS.slice(0, 2) : TOOLS;
  const kind = CHOICES[i % 4];
  const named = tools[Math.floor(i / 4) % tools.length].function.name;
  const body = {
    model: 'coolfusion',
    messages: [{ role: 'user', content: QUESTIONS[i % QUESTIONS.length] }],
    tools,
    tool_choice: kind === 'named' ? { type: 'function', function: { name: named } } : kind,
    // Room for calls where they are asked for; text (none, and mostly auto: the models are
    // random) is cut sooner, since it proves nothing more at length.
    max_tokens: MAX_TOKENS[kind],
    stream: Math.floor(i / 4) % 2 === 1,
  };
  if (i % 3 === 2 || SANITIZED) body.parallel_tool_calls = false;
  if (i % 7 === 3) Object.assign(body, { temperature: 0.8, seed: i });
  return { body, kind, named };
}

// The answer as a client reads it: {content, calls, finish}. In a stream each call arrives
// whole in one chunk's delta.tool_calls (id, type, name and all of its arguments), at the
// next index.
async function ask(srv, body) {
  const c = client(srv);
  if (!body.stream) {
    const r = await c.chat.completions.create(body);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    const m = r.choices[0].message;
    assert.equal(m.role, 'assistant');
    assert.ok(m.content === null || typeof m.content === 'string', JSON.stringify(m));
    const calls = m.tool_calls ?? [];
    assert.ok(Array.isArray(calls), JSON.stringify(m));
    return { content: m.content, calls, finish: r.choices[0].finish_reason };
  }
  const stream = await c.chat.completions.create(body);
  let content = '';
  let finish = null;
  const calls = [];
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    const ch = chunk.choices[0];
    if (!ch) continue;  // a usage chunk
    assert.equal(finish, null, 'a chunk after the one with finish_reason');
    content += ch.delta?.content ?? '';
    for (const d of ch.delta?.tool_calls ?? []) {
      assert.equal(typeof d.index, 'number', JSON.stringify(d));
      assert.equal(d.index, calls.length, `a call's second delta or an index skipped: ${JSON.stringify(d)}`);
      assert.equal(typeof d.id, 'string', JSON.stringify(d));
      assert.equal(d.type, 'function', JSON.stringify(d));
      assert.equal(typeof d.function?.name, 'string', JSON.stringify(d));
      assert.equal(typeof d.function?.arguments, 'string', JSON.stringify(d));
      calls.push({ id: d.id, type: d.type, function: { name: d.function.name, arguments: d.function.arguments } });
    }
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  return { content, calls, finish };
}

// Every call well formed, named after one of the request's tools, its arguments a JSON
// object that the tool's schema accepts; finish_reason "tool_calls" exactly when there are
// calls; no envelope in the content. Returns the parsed arguments.
function checkCalls(label, body, { content, calls, finish }) {
  // The envelope is read into tool_calls, never shown.
  assert.ok(!(content ?? '').includes('<tool_call>'), `${label}: content ${JSON.stringify(content)}`);
  const names = body.tools.map((t) => t.function.name);
  const ids = new Set();
  const args = [];
  for (const c of calls) {
    assert.equal(c.type, 'function', `${label}: ${JSON.stringify(c)}`);
    assert.match(c.id, /^\S+$/, `${label}: ${JSON.stringify(c)}`);
    assert.ok(!ids.has(c.id), `${label}: duplicate id ${c.id}`);
    ids.add(c.id);
    assert.ok(names.includes(c.function.name), `${label}: unknown tool ${c.function.name}`);
    assert.equal(typeof c.function.arguments, 'string', `${label}: ${JSON.stringify(c)}`);
    let value;
    assert.doesNotThrow(() => { value = JSON.parse(c.function.arguments); },
      `${label}: arguments are not JSON: ${c.function.arguments}`);
    const validate = VALIDATE[c.function.name];
    assert.ok(validate(value), `${label}: ${c.function.name}(${c.function.arguments}): ${JSON.stringify(validate.errors)}`);
    args.push(value);
  }
  assert.ok(FINISHES.includes(finish), `${label}: finish_reason ${finish}`);
  assert.equal(finish === 'tool_calls', calls.length > 0, `${label}: finish_reason ${finish} with ${calls.length} calls`);
  return args;
}

// What a tool returns for a call (made up; only its shape matters).
function toolResult(name, args) {
  if (name === 'add') return JSON.stringify({ sum: args.a + args.b });
  if (name === 'get_weather') return JSON.stringify({ city: args.city, temperature: 21, unit: args.unit });
  return JSON.stringify({ titles: ['A Book', 'Another Book'].slice(0, args.limit) });
}

// The sweep on one server: n requests, then a second turn for each answer with calls.
async function sweep(srv, label, n) {
  const stats = { calls: 0, answersWithCalls: 0, cut: 0, followUps: 0, ms: {} };
  const timed = async (key, f) => {
    const t0 = Date.now();
    const r = await f();
    stats.ms[key] = (stats.ms[key] ?? 0) + Date.now() - t0;
    return r;
  };
  for (let i = 0; i < n; i++) {
    const { body, kind, named } = sweepBody(i);
    const what = `${label} request ${i} (${kind}${kind === 'named' ? ' ' + named : ''}, stream ${body.stream})`;
    const answer = await timed(kind, () => ask(srv, body));
    const args = checkCalls(what, body, answer);
    const { calls, finish } = answer;
    if (kind === 'none') assert.equal(calls.length, 0, `${what}: ${JSON.stringify(calls)}`);
    if (kind === 'named') {
      for (const c of calls) assert.equal(c.function.name, named, `${what}: ${JSON.stringify(c)}`);
    }
    // A call cut by max_tokens is dropped (never half a call); otherwise a call is there.
    if (kind === 'named' || kind === 'required') {
      if (finish === 'length') stats.cut++;
      else assert.ok(calls.length >= 1, `${what}: no call, finish_reason ${finish}: ${JSON.stringify(answer.content)}`);
    }
    if (body.parallel_tool_calls === false) assert.ok(calls.length <= 1, `${what}: ${calls.length} calls`);
    stats.calls += calls.length;
    if (calls.length === 0) continue;
    stats.answersWithCalls++;

    // The second turn: the assistant's calls (content null) and each call's result. It need
    // only complete (a few tokens: the models are random).
    const followUp = {
      model: 'coolfusion',
      messages: [
        body.messages[0],
        { role: 'assistant', content: null, tool_calls: calls },
        ...calls.map((c, k) => ({ role: 'tool', tool_call_id: c.id, content: toolResult(c.function.name, args[k]) })),
      ],
      tools: body.tools,
      max_tokens: 16,
      stream: i % 3 === 1,
    };
    const second = await timed('second turn', () => ask(srv, followUp));
    checkCalls(`${what}, second turn`, followUp, second);
    stats.followUps++;
  }
  return stats;
}

// Each server's sweep: answers that call, and not too many cut by max_tokens.
async function sweepAndCheck(srv, label, n) {
  const stats = await sweep(srv, label, n);
  console.log(`${label}: ${JSON.stringify(stats)}`);
  // Not vacuous: required and named ask for calls in half the requests.
  assert.ok(stats.answersWithCalls >= n / 4, JSON.stringify(stats));
  assert.ok(stats.cut <= n / 10, `too many answers cut by max_tokens: ${JSON.stringify(stats)}`);
}

async function post(url, body) {
  return fetch(url + '/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

// The two servers' tests side by side; each server's in order.
describe('tool calls', { concurrency: true }, () => {
  describe('Qwen 2.5 + Llama 3.1 + Mistral Nemo templates', { concurrency: 1 }, () => {
    test(`${N_TEMPLATES} tool requests and their second turns`, { timeout: ms(4000) * (N_TEMPLATES + 10) }, () =>
      sweepAndCheck(tools, 'templates', N_TEMPLATES));

    test('LangChain JS: bindTools, a forced call, one round of the tool loop', { timeout: ms(60000) }, async () => {
      const options = { model: 'coolfusion', configuration: { baseURL: tools.url + '/v1' }, apiKey: 'x', maxRetries: 0 };
      const llm = new ChatOpenAI({ ...options, maxTokens: 200 });
      // The loop's next round need only complete: a few tokens of a random model.
      const short = new ChatOpenAI({ ...options, maxTokens: 24 });
      const pair = TOOLS.slice(0, 2);
      const rounds = [
        ['get_weather', ['get_weather'], false],
        ['any', ['get_weather', 'add'], true],
      ];
      for (const [choice, names, streamed] of SANITIZED ? rounds.slice(0, 1) : rounds) {
        const forced = llm.bindTools(pair, { tool_choice: choice, parallel_tool_calls: false });
        const messages = [new HumanMessage('What is the weather in Paris, and what is 2 plus 2?')];
        let ai;
        if (!streamed) {
          ai = await forced.invoke(messages);
        } else {
          for await (const chunk of await forced.stream(messages)) ai = ai ? ai.concat(chunk) : chunk;
        }
        assert.equal(ai.tool_calls?.length, 1, `${choice}: ${JSON.stringify(ai)}`);
        assert.deepEqual(ai.invalid_tool_calls ?? [], [], `${choice}: ${JSON.stringify(ai.invalid_tool_calls)}`);
        for (const tc of ai.tool_calls) {
          assert.ok(names.includes(tc.name), `${choice}: ${JSON.stringify(tc)}`);
          assert.ok(VALIDATE[tc.name](tc.args), `${choice}: ${JSON.stringify(tc)}: ${JSON.stringify(VALIDATE[tc.name].errors)}`);
          assert.equal(typeof tc.id, 'string');
        }
        // The next round: the results as ToolMessages, tool_choice left to the model.
        messages.push(ai, ...ai.tool_calls.map((tc) =>
          new ToolMessage({ tool_call_id: tc.id, content: toolResult(tc.name, tc.args) })));
        const next = await short.bindTools(pair).invoke(messages);
        assert.equal(typeof next.content, 'string', JSON.stringify(next));
        for (const tc of next.tool_calls ?? []) assert.ok(VALIDATE[tc.name]?.(tc.args), JSON.stringify(tc));
        assert.ok(FINISHES.includes(next.response_metadata?.finish_reason), JSON.stringify(next.response_metadata));
      }
    });

    test('bad tools, tool_choice and tool messages: 400 naming the field, never a 5xx', { timeout: ms(60000) }, async () => {
      const m = [{ role: 'user', content: 'Hi' }];
      const fn = (name, extra = {}) => ({ type: 'function', function: { name, ...extra } });
      const cases = [
        // [body, the param exactly, or a prefix when it ends in '*']
        [{ messages: m, tools: Array.from({ length: 200 }, (_, k) => fn(`tool_${k}`)) }, 'tools'],
        [{ messages: m, tools: [fn('f', { parameters: 5 })] }, 'tools[0]*'],
        [{ messages: m, tools: [TOOLS[0], fn('g', { parameters: { type: 12 } })] }, 'tools[1]*'],
        [{ messages: m, tools: [fn('f', { description: 'x'.repeat(1000000) })] }, 'tools[0].function.description'],
        [{ messages: m, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'no_such_tool' } } }, 'tool_choice'],
        [{
          messages: [
            ...m,
            { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'add', arguments: '{"a":1,"b":2}' } }] },
            { role: 'tool', content: '3' },
          ],
          tools: TOOLS,
        }, 'messages[2].tool_call_id'],
      ];
      for (const [body, param] of cases) {
        for (const stream of [false, true]) {
          const res = await post(tools.url, { ...body, stream, max_tokens: 8 });
          const text = await res.text();
          const what = `${param}, stream ${stream}: ${text.slice(0, 300)}`;
          assert.equal(res.status, 400, what);
          const err = JSON.parse(text).error;
          assert.equal(typeof err?.message, 'string', what);
          assert.equal(err.type, 'invalid_request_error', what);
          if (param.endsWith('*')) assert.ok(err.param?.startsWith(param.slice(0, -1)), what);
          else assert.equal(err.param, param, what);
        }
      }
      // The official client reads the same error.
      await assert.rejects(
        client(tools).chat.completions.create({
          model: 'coolfusion', messages: m, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } },
        }),
        (e) => { assert.equal(e.status, 400); assert.equal(e.param, 'tool_choice'); return true; });
      // And the server still answers (a few tokens held to the tools' grammar).
      const body = { model: 'coolfusion', messages: m, tools: TOOLS, max_tokens: 8 };
      checkCalls('after the refusals', body, await ask(tools, body));
      assert.equal(tools.proc.exitCode, null);
    });
  });

  describe('stories260K + aidreams260K, no templates', { concurrency: 1 }, () => {
    test(`${N_TINY} tool requests and their second turns`, { timeout: ms(2000) * (N_TINY + 10) }, () =>
      sweepAndCheck(tiny, 'tiny', N_TINY));
  });
});

// A thinking template (DeepSeek-R1's opens "<think>\n" in the prompt): the answer starts
// inside the block, so its text is reasoning_content, never content, streamed or not.
describe('a thinking template', () => {
  test('its reasoning arrives in reasoning_content, never in content', { timeout: ms(60000) }, async () => {
    const model = TOOL_MODELS[0].replace(/[^/]*$/, 'rand-r1-think.gguf');
    const srv = await startServer(['-t', '1'], [model]);
    try {
      const body = { messages: [{ role: 'user', content: 'What is 2 + 3?' }], max_tokens: 16 };
      const whole = await (await post(srv.url, body)).json();
      const msg = whole.choices[0].message;
      assert.ok(msg.reasoning_content.length > 0, JSON.stringify(msg));
      assert.equal(msg.content, '', JSON.stringify(msg));  // no "</think>" in 16 random tokens
      const { events } = await readSse(await post(srv.url, { ...body, stream: true }));
      let reasoning = '', content = '';
      for (const e of events) {
        const d = e.choices?.[0]?.delta ?? {};
        reasoning += d.reasoning_content ?? '';
        content += d.content ?? '';
      }
      assert.equal(reasoning, msg.reasoning_content);
      assert.equal(content, '');
      // reasoning_format none: the same text is all content.
      const none = await (await post(srv.url, { ...body, reasoning_format: 'none' })).json();
      assert.equal(none.choices[0].message.content, msg.reasoning_content);
      assert.equal(none.choices[0].message.reasoning_content, undefined);
    } finally {
      await srv.stop();
    }
  });
});
