// coolfusion: fuse GGUF language models with different tokenizers at inference time.
#include <coolfusion/engine.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "args.h"
#include "calibrate.h"
#include "command_flags.h"
#include "commands.h"

namespace {

const char* kUsage = R"(usage: coolfusion COMMAND [options]

Fuses two or more GGUF language models, whatever their tokenizers, at inference time
(Cool-Fusion, Liu et al., ACL 2025): each model drafts a segment up to a word boundary
common to all tokenizers, every model scores every draft, the best score wins. By
default each model's weight follows how well it predicts the prompt (bits per byte).

commands:
  generate    fused text from a prompt; streams segments as they are committed
  chat        interactive chat; each model renders the conversation with its own
              GGUF chat template; the assistant turn is fused
  boundaries  common word boundaries of a text for some tokenizers (vocab-only GGUFs work)
  bench       engine overhead, decode calls per segment and fused/single time ratio
  eval        accuracy of each model alone and of each fusion method on a dataset
              (GSM8K-format jsonl and others), with 95% CIs, JSON and an SVG chart
  serve       OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions,
              /v1/models, /health, /metrics), llama-server's /completion, /tokenize,
              /detokenize, /props and /slots, and a web playground at /

model options:
  -m, --model PATH[@opts]   a GGUF model; repeat for each model to fuse. -m A alone is
                            plain greedy generation with A. opts, comma-separated:
                            ctx=N, threads=N, ngl=N, weight=W (score weight >= 0,
                            default 1; 0: the model sits out),
                            rpc=HOST:PORT (run its layers on that llama.cpp rpc-server
                            worker; repeat rpc= for several workers),
                            template=NAME|FILE (as --chat-template, this model only)
  --rpc HOST:PORT[,...]     workers for every model that names none of its own
  --rpc-timeout S           a worker that sends nothing for S seconds during a call
                            fails the request, naming it (default 60; 0: wait forever)
  -c, --ctx-size N          context length per model (default 4096, llama.cpp's; a
                            warning when a model was trained on less)
  -t, --threads N           CPU threads per model (default: all)
  -ngl, --n-gpu-layers N    layers to offload to a GPU, -1 all (default 0). A build
                            without a GPU backend says so in one warning and runs them
                            on the CPU
  --no-mmap                 read the models into memory instead of memory-mapping them
  -fa, --flash-attn on|off|auto
                            flash attention (default auto: llama.cpp decides)
  --chat-template NAME|FILE the chat template instead of each GGUF's own: one of
                            llama.cpp's built-in names (chatml, llama3, gemma, ...) or
                            a file holding a template llama.cpp recognizes. Once: for
                            every model; once per -m: each model's, in order
  --chat-template-file FILE a Jinja chat template (llama-server's flag) instead of
                            each GGUF's own, rendered by llama.cpp's Jinja engine;
                            once or once per -m, as --chat-template, which it overrides
  --jinja, --no-jinja       each GGUF's own template rendered by llama.cpp's Jinja
                            engine, as llama-server does (default on); --no-jinja: by
                            llama.cpp's built-in template matcher, which knows a fixed
                            list of template families

generation options:
  -p, --prompt TEXT         the prompt (escapes such as \n, \t, \\ are processed)
  -f, --file FILE           read the prompt from FILE
  -n, --n-predict N         new tokens, counted with the first model that takes part
                            (the first -m unless it sat out; default 128; -1: until the
                            models end the text or a context is full); the segment
                            that passes N is cut there
  --method NAME             the fusion method (default cool), one of:
                            {METHODS}
                            (unite, gac, adafuse, safe: other papers' methods, for
                            comparison on the same models)
  --gate P                  where the leading model (the largest weight) gives its own
                            choice a probability of P or more, its choice is taken
                            alone: cool, cool-shortest, cool+r: its candidate; gac: its
                            next token (0 < P <= 1; 1: the ensemble decides everywhere;
                            default 0.8 for cool, cool-shortest and cool+r under --score
                            auto, else 1)
  --score RULE              auto (default): prompt weights, confidence, the gate, then
                            the weighted median of PPL when 3+ models take part, the
                            weighted geometric mean when 2; mean: the paper's rule
                            exactly (arithmetic mean of PPL, no prompt weights, no
                            confidence, no gate); geomean (geometric mean), sweetspan
                            (drop outlier scores), median (the middle model's PPL):
                            without the refinements unless asked
  --prompt-weights on|off   weight each model by its fit to the prompt: w = weight= x
                            exp(-(bits per byte - best bits per byte) / T), any rule
                            (default: on with auto, off with the others)
  --prompt-temp T           T above, in bits per byte, > 0 (default 0.25)
  --prompt-evidence B       below B bytes measured, T grows as T x B / bytes: a short
                            prompt moves little weight (default 32; 0: T stays)
  --sit-out W               a model whose weight / the largest is below W neither
                            drafts nor scores (default 0.01; 0: never)
  --word-end on|off         a candidate ending in a letter or digit is also scored on
                            its word ending there (each model's probability that the
                            word goes on instead), so that "1" does not beat "14" for
                            being its likely prefix (default: on with auto, off with
                            the others)
  --confidence on|off       at each step, a model's weight is multiplied by its
                            probability of its own candidate: a model unsure of what
                            it would write weighs less (cool, cool-shortest, cool+r;
                            default: on with auto, off with the others)
  --calibrate FILE          weigh each model by how often it alone answers the solved
                            rows of FILE (eval's --data formats, read as --task; at most
                            2000 rows): weight= x its accuracy / the best model's. Run
                            once, stored in FILE.weights.json and reused while FILE,
                            --task, --token-healing and each model file and its context
                            size stay the same (generate, chat, serve, eval: its fused
                            runs; docs/confidence.md)
  --per-word on|off         each model's perplexity of a candidate per word of it
                            instead of per token of its own tokenizer (default off;
                            measured in docs/overlap-zoo.md)
  --sweetspan-ratio R       sweetspan: drop a model's score while max/min PPL > R (10)
  --token-healing on|off    a raw prompt that ends inside what a model writes as one
                            token (a trailing space, " 2" of " 26") is read up to that
                            model's last whole token, whose text its answer must then
                            start with (default: on where it applies: raw prompts, no
                            grammar, methods cool, cool-shortest, rerank, cool+r,
                            single; on: refused elsewhere; docs/token-healing.md)
  --temp T                  sampling temperature for drafts (default 0: greedy)
  --top-p P                 nucleus sampling when --temp > 0 (default 1)
  --top-k N                 keep the N most likely tokens when --temp > 0 (0: off, default)
  --min-p P                 drop tokens below P x the best's probability (0: off, default)
  --repeat-penalty F        divide the logits of recent tokens by F (1: off, default)
  --presence-penalty F      subtract F from tokens already in the answer (0: off, default)
  --frequency-penalty F     subtract F x count from them (0: off, default)
  --repeat-last-n N         the penalties look back N tokens of the answer (64; -1: 4096)
  --grammar GBNF            constrain the answer to a GBNF grammar (llama.cpp's format;
                            every model drafts under it; it ends when the grammar does)
  --grammar-file FILE       the same, read from FILE
  -j, --json-schema SCHEMA  constrain the answer to JSON matching SCHEMA (converted to
                            GBNF by llama.cpp's json-schema-to-grammar)
  --json-schema-file FILE   the same, read from FILE
  -s, --seed N              sampler seed (default 0)
  --stop TEXT               stop before TEXT; repeatable
  --max-segment-tokens N    cut a draft that finds no common boundary after N tokens (32)
  --cache-prompt on|off     chat and serve: keep each model's KV cache between requests
                            and decode only what follows the longest common prefix of
                            the new prompt (default on; bench and eval: always off)
  --parallel-models         run the models side by side within a step, one thread each,
                            sharing the cores unless -t is given (default: one after
                            another, each with all threads: faster on a small CPU)
  --system TEXT             chat: a system message
  --tools FILE              chat: tools the models may call, a JSON array of OpenAI tools
                            ({"type": "function", "function": {"name", "description",
                            "parameters"}}) or {"tools": [...], "tool_choice": ...}; a call
                            is shown and its result read from the terminal, then the answer
                            goes on (docs/tool-calls.md)
  -e, --escape              process \n \r \t \' \" \\ \xHH in -p, --system and --stop
                            (the default, as llama.cpp's); --no-escape: keep them as typed
  --json                    generate: print one JSON object instead of streaming text
  --trace                   print each step (candidates, per-model PPL, winner) on stderr
  -v, --verbose             show llama.cpp's log

boundaries options:
  --text-file FILE          the text (or -p TEXT)
  --json                    {"boundaries": [byte offsets], "models", "vocab_overlap"}

serve options:
  --host ADDR               address to bind (default 127.0.0.1)
  --port N                  port (default 8080; 0 picks a free one)
  -np, --parallel N         request slots (default 1); the slots share one context per
                            model, each its own KV sequences, and their decodes are
                            batched into one llama_decode per model
  --max-queue N             requests that may wait for a slot; more get 429 (default 16)
  --queue-timeout S         a waiting request gives up after S seconds: 429 (default 120)
  --max-body BYTES          request body limit; larger gets 413 as soon as its
                            Content-Length (or a chunked body's size) says so
                            (default 1048576). Compressed bodies get 415
  -to, --timeout S          a request's body must arrive within S seconds of its
                            head (its head within 10 s of its first byte), and a
                            response may wait S seconds in all for its client to
                            read it: else 408 or the connection is dropped
                            (default 30)
  --max-connections N       open connections; more get 503 (default 512)
  --max-connections-per-address N
                            open connections from one client address; more get
                            429 (default 64)
  --max-tokens N            largest max_tokens a request may ask for (default 2048); a
                            request that gives none gets -n's tokens (default 128;
                            -n -1: up to --max-tokens), as does n_predict -1
  --api-key KEY             require "Authorization: Bearer KEY" on /v1/* and on
                            /completion, /tokenize, /detokenize, /props, /slots
  --cors-origin ORIGIN      let web pages from ORIGIN (https://app.example) call the
                            server from a browser (CORS); repeatable or a comma
                            list; * for any origin. Default: none (same-origin only,
                            as the playground)
  While --host is a loopback address (the default), a request whose Host header
  names another host is refused 403 (DNS rebinding).
  -a, --alias NAME          the ensemble's model id in /v1/models and responses
                            (default coolfusion, which names it in requests either way)
  --log-disable             no request log and no loading line on stderr (by default
                            each request but GET /health and /metrics is logged:
                            "request: METHOD PATH ADDRESS STATUS MS ms [N tokens]")
  The server listens at once and loads the models after: meanwhile every request gets
  503 {"error": {"code": 503, "message": "Loading model", ...}}, as from llama-server.
  a request picks its method with "coolfusion": {"method": NAME, "gate": P}, NAME one of
    {METHODS} (default cool), P as --gate

eval options:
  --data FILE               the dataset (required)
  --task NAME               its format and answer type: gsm8k (default: jsonl rows
                            {"question","answer"}, answer after "####"), svamp,
                            multiarith, addsub, singleeq (numbers), aqua, commonsenseqa
                            (letter), strategyqa, coin_flip (yes/no), last_letters (word);
                            multiple choice, scored not generated: choice (jsonl rows
                            {"question","choices","answer"} with the answer an index, a
                            letter or the choice's text, or either layout below), arc
                            (ARC's {"question":{"stem","choices"},"answerKey"} or Hugging
                            Face's {"question","choices":{"text","label"},"answerKey"}),
                            hellaswag ({"ctx" or "activity_label","ctx_a","ctx_b";
                            "endings","label"}). Each choice is scored after the prompt
                            as lm-evaluation-harness does: "Question: {q}\nAnswer:" then
                            " {choice}" (hellaswag: the context, " {ending}"), and each
                            run reports acc (lowest total nll; fused: the models' nll
                            weighted), acc_norm (lowest nll per character of the choice)
                            and, fused, acc_rule (lowest fused score under --score); ties
                            go to the first choice. --method takes single and cool only
  --method LIST             comma-separated, any of:
                            {METHODS}
                            (single: each model alone; default: single,cool). Every
                            run is also compared with the default (cool under auto),
                            which runs too when the list does not name it
  --score LIST              comma-separated scoring rules; each fused method runs
                            under each (default: auto). Each fused run is compared
                            with the best single model on the same rows (paired
                            difference, bootstrap 95% CI)
  --limit N                 the first N rows only
  -np, --parallel N         N rows at a time (generation tasks), one KV range each in
                            one context per model, their decodes batched; each row's
                            text is the one it gets alone with -fa off (-fa auto is off
                            for them on the CPU)
  --few-shot K --train FILE K worked examples from FILE before each question
  --prompt-suffix STR       appended to every row's prompt as given (e.g. " ": prompts
                            that end in a space, as docs/token-healing.md measures);
                            generation tasks only
  --answer-prefix N         each row's prompt ends with a space and the first N
                            characters of its worked answer (" 1" of "19 - 14 = 5": a
                            prompt that ends inside a number), and the answer is read
                            from them and the output; generation tasks only
  --json OUT                {"results": [{method, models, n, accuracy, ci95,
                            vs_best_single, vs_default, tokens_per_s, counters,
                            "exact_match,strict-match", ...}], "predictions"}
  --log-samples FILE        one JSON line per row and run, written as each row
                            finishes: prompt, output, the answer each harness filter
                            reads, gold, correct, weights, counters, seconds; the
                            first line holds the run's settings (for --resume)
  --resume FILE             continue the killed run whose --log-samples FILE this is:
                            its rows are not run again, the others are appended to
                            it, and the table, --json and --svg are an uninterrupted
                            run's (a row's seconds are those it took when it ran).
                            A file of another run (models, data, methods, rules, -n,
                            sampling, --limit, --few-shot ...) is refused, naming
                            what differs; a missing or empty FILE starts the run
  --svg OUT                 a bar chart of accuracy with 95% CIs
  Prompts are "Question: ...\nAnswer:"; generation stops at "\nQuestion:" or -n.

bench options:
  -m PATH (2 to 4 times)    tiny models to fuse (the first 3 in the speed rows, up to 4 in
                            the cost-growth table); --big PATH (2 or 3 times): bench-size models
  -n N, --repeat K          tokens per run and runs per measurement (default 128, 3)
  --method LIST             also measure these methods side by side on the same models
                            and prompt: time per new token, R, decode calls and tokens
                            decoded per new token, beside the singles', and the fitted
                            cost per decode call and per token (default: cool only)
  --no-growth               skip the cost-growth table (fused ms per new token against
                            prompt length 100/1000/4000 tokens, 2-4 models, English vs
                            CJK-only text, chat turn 1 vs 10; printed after the -m rows)

exit status: 0 on success, 1 on any error (one line on stderr, starting with "error:").
)";

// The usage text with the engine's list of methods in place of {METHODS}.
std::string Usage() {
  std::string u = kUsage;
  const std::string key = "{METHODS}";
  for (size_t p; (p = u.find(key)) != std::string::npos;)
    u.replace(p, key.size(), coolfusion::MethodList());
  return u;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace coolfusion::cli;
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(Usage().c_str(), argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("coolfusion 0.1.0\n");
    return 0;
  }
  const std::string cmd = argv[1];
  CommonArgs args;
  coolfusion::Status st = ParseArgs(argc, argv, 2, &args);
  if (!st.ok()) return Fail(st);
  if (args.help) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (args.verbose) setenv("COOLFUSION_VERBOSE", "1", 1);
  static const char* const kCommands[] = {"generate", "chat",  "boundaries",
                                          "bench",    "serve", "eval"};
  if (std::find(std::begin(kCommands), std::end(kCommands), cmd) == std::end(kCommands))
    return Fail(coolfusion::Status::InvalidArgument(
        "unknown command '" + cmd + "' (generate, chat, boundaries, bench, serve, eval)"));
  if (!(st = CheckFlagsFor(cmd, args)).ok()) return Fail(st);
  if (args.parallel > 1 && cmd != "serve" && cmd != "eval")
    return Fail(coolfusion::Status::InvalidArgument(
        "-np/--parallel is for serve (request slots) and eval (rows at a time), not " + cmd));
  if (!args.calibrate.empty()) {
    if (cmd != "generate" && cmd != "chat" && cmd != "serve" && cmd != "eval")
      return Fail(coolfusion::Status::InvalidArgument(
          "--calibrate is for generate, chat, serve and eval, not " + cmd));
    Calibration calibration;
    if (!args.models.empty() && !(st = Calibrate(&args, &calibration)).ok()) return Fail(st);
  }
  if (cmd == "generate") return CmdGenerate(args);
  if (cmd == "chat") return CmdChat(args);
  if (cmd == "boundaries") return CmdBoundaries(args);
  if (cmd == "bench") return CmdBench(args);
  if (cmd == "serve") return CmdServe(args);
  return CmdEval(args);
}
