// Options for loading models and generating fused text. Every default is commented.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace coolfusion {

class PreparedPrompt;  // engine.h

struct ModelOptions {
  std::string path;         // GGUF file; memory-mapped
  int n_ctx = 0;            // context length for the shared text; 0: 4096 (llama.cpp's
                            // tools' default, whatever the model was trained on)
  int n_threads = 0;        // CPU threads; 0: all hardware threads
  int n_gpu_layers = 0;     // layers offloaded to a GPU; -1: all (no effect without a GPU build)
  double weight = 1.0;      // weight of this model's perplexity in a candidate's score
                            // (times its prompt weight when prompt weights are on); 0: the
                            // model sits out every request
  bool vocab_only = false;  // load only the tokenizer (enough for `boundaries`)
  std::vector<std::string> rpc;  // "host:port" of llama.cpp rpc-server workers: the model's
                                 // layers run there (all of them unless n_gpu_layers says
                                 // otherwise); empty: this machine
  double rpc_timeout_s = 60;     // deadline of every call to those workers: one that sends
                                 // nothing for this long fails the request (Unavailable,
                                 // naming it); 0: wait forever. Set when a worker's
                                 // connection opens (the first model to use it)
  bool use_mmap = true;          // memory-map the file; false (--no-mmap): read it into memory
  int flash_attn = -1;           // flash attention (-fa): -1 auto (llama.cpp decides), 0 off,
                                 // 1 on
  std::string chat_template;     // empty: the GGUF's own template; else one of llama.cpp's
                                 // built-in template names ("chatml", "llama3", ...) or a
                                 // template's text, which llama.cpp must recognize
  // --chat-template-file's text: a Jinja template rendered by llama.cpp's Jinja engine
  // instead of the GGUF's own (and of chat_template); empty: none.
  std::string chat_template_jinja;
  // The GGUF's own template rendered by llama.cpp's Jinja engine, as llama-server does
  // (docs/chat-templates.md); a template it cannot parse or render falls back to the
  // built-in matcher with a warning. false (--no-jinja): the built-in matcher only.
  bool jinja_gguf_template = true;
};

// Settings of the peer methods (src/fusion/methods/: UniTE, GaC, AdaFuse, SAFE); each is
// read by its method only, except the gate, which Cool has too.
struct PeerOptions {
  int unite_top_k = 10;  // unite: each model's k most likely next tokens (the paper's k)
  // The gate (gac and cool; --gate P): where the leading model (the active model with the
  // largest weight, the first on ties) gives its own choice a probability of at least
  // this, its choice is taken alone; below it, the ensemble decides. gac: the leader's
  // most likely next token (GaC's gate). cool, cool-shortest (and cool+r's Cool answer):
  // the leader's candidate, all its tokens and its word end together. In (0, 1]; 1: the
  // ensemble decides everywhere. 0 (unset): the method's default, kCoolGate for cool
  // under --score auto, 1 for gac and under an explicit rule (the paper's).
  double gate = 0;
  double adafuse_margin = 0.7;  // adafuse: top-1 minus top-2 probability at or above which
                                // the leading model writes alone
  int adafuse_words = 3;        // adafuse: most words written alone per step
  int adafuse_beams = 3;        // adafuse: candidate words expanded when not confident
  int safe_draft_tokens = 8;    // safe: tokens the drafter proposes per round
};

enum class ScoreRule {
  kAuto,        // the default: prompt weights, then the weighted median when three or more
                // models take part, the weighted geometric mean when two (measured best on
                // the zoo; docs/zoo.md)
  kMeanPpl,     // the paper's rule: weighted arithmetic mean of per-model perplexities
  kGeoMeanPpl,  // weighted geometric mean (mean log-perplexity): less ruled by one outlier
  kSweetSpan,   // SweetSpan's filter, then the arithmetic mean (see sweetspan_ratio)
  kMedianPpl,   // weighted median: no single model's outlier perplexity decides (3+ models)
};

// A scoring refinement that is on by default with ScoreRule::kAuto and off with every
// explicit rule (so that --score mean is the paper's rule exactly), unless set.
enum class Switch { kDefault, kOn, kOff };

struct ScoringOptions {
  ScoreRule rule = ScoreRule::kAuto;  // --score mean: the paper's rule
  // kSweetSpan: while a candidate's max/min perplexity ratio across models exceeds this,
  // the most surprised model's score of that candidate is dropped.
  double sweetspan_ratio = 10.0;
  // Prompt weights (src/fusion/prompt_weights.h): each model's bits per byte of the prompt
  // become per-request weights w = weight= x exp(-(bpb - best bpb) / prompt_temp); a model
  // whose w, divided by the largest, is below sit_out neither drafts nor scores.
  Switch prompt_weights = Switch::kDefault;
  double prompt_temp = 0.25;  // bits per byte; must be > 0 (chosen on the zoo, docs/zoo.md)
  double sit_out = 0.01;      // relative weight below which a model sits out; in [0, 1)
  // Evidence: below prompt_evidence bytes measured (n, the fewer of the two models'), the
  // temperature grows as prompt_temp x prompt_evidence / n, so that a difference read on
  // a few bytes moves little weight: on a 3-byte "hi" a model 1.2 bits per byte worse keeps
  // 0.64 of the weight instead of sitting out. 0: the temperature never grows.
  double prompt_evidence = 32;
  // Word ends: a candidate that ends in an ASCII letter or digit claims that its word
  // ends there; each model's probability that the word goes on instead (its next token
  // starting with a letter or digit) is scored as one more event of the candidate, so that
  // "1" is not preferred to "14" for being a likely prefix of it.
  Switch word_end = Switch::kDefault;
  // Per word: each model's perplexity of a candidate is its negative log-probability of
  // the whole candidate divided by the candidate's words (runs of non-space bytes), not by
  // its own tokens. Tokenizers split a number or a word into different numbers of tokens;
  // per token, a candidate whose later tokens are easy ("1" then "2") looks likelier than
  // it is, and the same candidate is scored on a different scale by each model.
  Switch per_word = Switch::kOff;
  // Confidence (segment steps: cool, cool-shortest, cool+r's Cool answer): at each step a
  // model's weight is multiplied by its probability of the candidate it drafted itself
  // (all its tokens and its word end), so that a model unsure of what it would write
  // weighs less in that step's scores than one that is sure. Prompt weights read how well
  // a model knows the question's wording; this reads, step by step, how sure it is of the
  // answer (docs/confidence.md).
  Switch confidence = Switch::kDefault;
};

// The gate that cool uses under --score auto when PeerOptions::gate is unset (0): chosen
// on the zoos (docs/confidence.md).
inline constexpr double kCoolGate = 0.8;

// Each model's draft tokens are picked through llama.cpp's sampler chain with these
// settings (backend/token_sampler.h); names and defaults as llama.cpp's.
struct SamplingOptions {
  float temperature = 0.0f;        // 0: greedy (the paper's setting)
  float top_p = 1.0f;              // nucleus sampling when temperature > 0; 1: off
  int top_k = 0;                   // keep the k most likely when temperature > 0; 0: off
  float min_p = 0.0f;              // drop tokens below min_p x the best's probability; 0: off
  float repeat_penalty = 1.0f;     // divide repeated tokens' logits (llama.cpp); 1: off
  float frequency_penalty = 0.0f;  // minus this x the token's count (OpenAI); 0: off
  float presence_penalty = 0.0f;   // minus this once a token appeared (OpenAI); 0: off
  int repeat_last_n = 64;          // penalties look back this many tokens; -1: 4096, 0: off
  uint32_t seed = 0;               // seed of the candidate sampler
};

// GenerateOptions::max_new_tokens without a limit (llama.cpp's -n -1).
inline constexpr int kNoTokenLimit = -1;

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct GenerateOptions {
  std::string method;             // the fusion method: a name from MethodList() (engine.h);
                                  // empty: the default (DefaultMethod())
  int max_new_tokens = 128;       // -n: counted with model 0's tokenizer; > 0, or
                                  // kNoTokenLimit (-1): until the models end the text or
                                  // a context is full
  std::vector<std::string> stop;  // stop strings; the text ends before the first one
  SamplingOptions sampling;       // greedy by default
  ScoringOptions scoring;         // arithmetic mean of PPL by default
  int max_segment_tokens = 32;    // a candidate that finds no common boundary within
                                  // this many tokens is cut at its last word boundary
  int only_model = -1;            // >= 0: plain generation with that model alone
  bool parallel_models = false;   // draft, score and commit the models in parallel
                                  // threads sharing the cores (off: one after another,
                                  // each with all threads; faster on a small CPU)
  bool cache_prompt = true;       // reuse, per model, the KV cache this Ensemble kept from
                                  // its previous request for the longest common token prefix
                                  // of the new prompt, and decode only the rest (llama-server's
                                  // cache_prompt); false: decode the whole prompt
  PeerOptions peer;               // unite, gac, adafuse, safe
  // Token healing at the prompt's end (docs/token-healing.md): each model's raw prompt
  // backs up over its last token when a longer token of that model's vocabulary starts
  // with the same text (a trailing space, " 2" of " 26"), and the model's first new token
  // must start with that text, which stays the prompt's: the answer reads as if the
  // prompt had been cut where the tokenizer cuts. kDefault: on where it applies (a raw
  // prompt, no grammar, and a method that drafts through the session: cool,
  // cool-shortest, rerank, cool+r, single); kOn: the same, and a request where it cannot
  // apply (chat messages, a grammar, a peer method) is refused; kOff: the prompt's
  // tokens as its tokenizer cuts them (the behaviour before healing).
  Switch token_healing = Switch::kDefault;
  std::string grammar;  // GBNF (root rule "root"): every model drafts under it
                        // and generation ends when it is complete; empty: none.
                        // JSON schemas: JsonSchemaToGrammar (engine.h)
};

// What to generate from: a raw prompt (`generate`) or chat messages rendered through each
// model's own GGUF chat template (`chat`).
struct Request {
  std::string prompt;                 // used when messages is empty
  std::vector<ChatMessage> messages;  // non-empty: chat mode
  GenerateOptions options;
  // Asked during long work inside one step (following a grammar), at most every 50 ms and
  // never concurrently: true stops the generation (StopReason kCancelled), as the segment
  // callback's false does between steps. Empty: never asked.
  std::function<bool()> cancelled;
  // The prompt as each model reads it, from Ensemble::Validate of this request (on this
  // ensemble or one of the same model files): Generate and CachedPrefix then neither
  // render nor tokenize it again. One made for another prompt or other models is not
  // used. Empty: they render and tokenize it themselves.
  std::shared_ptr<const PreparedPrompt> prepared;
};

}  // namespace coolfusion
