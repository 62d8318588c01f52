// `coolfusion bench`'s cost-growth table: fused time per new token as the work grows, (a)
// with the prompt's length (100 / 1000 / 4000 tokens), (b) with the number of models (2-4),
// (c) with the script (English vs CJK-only text of the same token length; and the step's
// engine time on a 100- vs a 4000-character CJK text, where boundary checks and
// re-encoding may grow with the text), and (d) from turn 1 to turn 10 of a chat that keeps
// its prompt cache. Each row is one generation; "per token" excludes the prompt.
#include "bench_growth.h"

#include "base/utf8.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace coolfusion::cli {

namespace {

const char kEnglish[] =
    "The old lighthouse stood at the end of a narrow spit of land, where the river met the "
    "sea. Each evening its keeper climbed the stairs to light the lamp and wrote a few lines "
    "in the log: the weather, the ships that passed, a storm that broke a window. ";
const char kCjk[] =
    "古い灯台は川が海に出会う細い岬の先に立っていた。毎晩、灯台守は階段を上って明かりを灯し、"
    "天気や通り過ぎた船のことを日誌に書いた。我们今天去公园散步，天气很好，孩子们在草地上玩耍。";

// `unit` repeated and cut to about `tokens` tokens of model 0 (or `chars` characters).
Status Filler(Ensemble& e, const char* unit, size_t tokens, size_t chars, std::string* out) {
  out->clear();
  std::vector<int32_t> ids;
  while (true) {
    *out += unit;
    if (chars > 0) {
      // Cut at a character boundary near `chars` UTF-8 characters.
      size_t n = 0, i = 0;
      for (; i < out->size() && n < chars; ++i) n += ((unsigned char)(*out)[i] & 0xC0) != 0x80;
      while (i < out->size() && ((unsigned char)(*out)[i] & 0xC0) == 0x80) ++i;
      if (n >= chars) {
        out->resize(i);
        return Status::Ok();
      }
      continue;
    }
    CF_RETURN_IF_ERROR(e.Tokenize(0, *out, &ids));
    if (ids.size() >= tokens) break;
  }
  // Trim whole characters from the end until it fits.
  while (true) {
    CF_RETURN_IF_ERROR(e.Tokenize(0, *out, &ids));
    if (ids.size() <= tokens || out->size() < 8) return Status::Ok();
    out->resize(CompleteUtf8Prefix(std::string_view(*out).substr(0, out->size() - 4)));
  }
}

struct Row {
  std::string label;
  double ms_per_token = 0, engine_ms_per_step = 0, align_ms_per_step = 0;
  int new_tokens = 0, prompt_tokens = 0, steps = 0;
};

Row Measure(const std::string& label, const GenerationResult& g) {
  Row r;
  r.label = label;
  r.new_tokens = g.n_new_tokens;
  r.prompt_tokens = g.n_prompt_tokens;
  r.steps = (int)g.segments.size();
  const double gen_ms = g.timings.total_ms - g.timings.prompt_ms;
  r.ms_per_token = g.n_new_tokens > 0 ? gen_ms / g.n_new_tokens : 0;
  // Time outside llama_decode after the prompt (alignment, boundary checks, re-encoding,
  // sampling, scoring arithmetic, KV bookkeeping): the part that the text's length could
  // make grow.
  const double engine = gen_ms - (g.timings.decode_ms - g.timings.prompt_decode_ms);
  r.engine_ms_per_step = r.steps > 0 ? std::max(0.0, engine) / r.steps : 0;
  // Of that, boundary checks and re-encoding alone (summed over models).
  r.align_ms_per_step = r.steps > 0 ? (double)g.counters.align_ns / 1e6 / r.steps : 0;
  return r;
}

Status Generate(Ensemble& e, Request req, const CommonArgs& a, GenerationResult* g) {
  req.options.max_new_tokens = a.gen.max_new_tokens;
  req.options.scoring.prompt_weights = Switch::kOff;  // every model takes part
  req.options.scoring.sit_out = 0;
  return e.Generate(req, nullptr, g);
}

}  // namespace

Status GrowthTable(const std::vector<ModelOptions>& models, const CommonArgs& a,
                   nlohmann::json* out) {
  std::vector<ModelOptions> mo = models;
  // 4000 CJK characters can be 12000 tokens in a byte-fallback vocabulary.
  for (ModelOptions& m : mo) m.n_ctx = std::max(m.n_ctx, 16384);
  std::vector<Row> rows;
  std::unique_ptr<Ensemble> two;
  const std::vector<ModelOptions> pair(mo.begin(), mo.begin() + 2);
  CF_RETURN_IF_ERROR(Ensemble::Open(pair, &two));
  GenerationResult warm;
  Request w;
  w.prompt = "Once upon a time";
  CF_RETURN_IF_ERROR(Generate(*two, w, a, &warm));
  // (a) prompt length, English, 2 models.
  for (size_t n : {100, 1000, 4000}) {
    Request r;
    CF_RETURN_IF_ERROR(Filler(*two, kEnglish, n, 0, &r.prompt));
    GenerationResult g;
    CF_RETURN_IF_ERROR(Generate(*two, r, a, &g));
    rows.push_back(Measure("(a) prompt " + std::to_string(n) + " tokens, English, 2 models", g));
  }
  // (b) models, prompt of 100 tokens.
  for (size_t k = 2; k <= mo.size() && k <= 4; ++k) {
    std::unique_ptr<Ensemble> e;
    CF_RETURN_IF_ERROR(
        Ensemble::Open(std::vector<ModelOptions>(mo.begin(), mo.begin() + (long)k), &e));
    Request r;
    CF_RETURN_IF_ERROR(Filler(*e, kEnglish, 100, 0, &r.prompt));
    GenerationResult g;
    CF_RETURN_IF_ERROR(Generate(*e, r, a, &g));
    rows.push_back(Measure("(b) " + std::to_string(k) + " models, prompt 100 tokens", g));
  }
  // (c) script: the same token length; then 100 vs 4000 CJK characters.
  for (const auto& [name, unit] :
       {std::pair<const char*, const char*>{"English", kEnglish}, {"CJK-only", kCjk}}) {
    Request r;
    CF_RETURN_IF_ERROR(Filler(*two, unit, 1000, 0, &r.prompt));
    GenerationResult g;
    CF_RETURN_IF_ERROR(Generate(*two, r, a, &g));
    rows.push_back(Measure(std::string("(c) ") + name + ", prompt 1000 tokens, 2 models", g));
  }
  // The same generation 5 times (the prompt cache makes the repeats cheap; greedy: the
  // same text), the median alignment time kept: a single run varies by +-25% here.
  double cjk_align[2] = {0, 0};  // per step: 100 and 4000 characters
  for (size_t chars : {100, 4000}) {
    Request r;
    CF_RETURN_IF_ERROR(Filler(*two, kCjk, 0, chars, &r.prompt));
    std::vector<Row> runs;
    for (int k = 0; k < 5; ++k) {
      GenerationResult g;
      CF_RETURN_IF_ERROR(Generate(*two, r, a, &g));
      runs.push_back(
          Measure("(c) CJK-only, " + std::to_string(chars) + " characters, 2 models", g));
    }
    std::sort(runs.begin(), runs.end(),
              [](const Row& x, const Row& y) { return x.align_ms_per_step < y.align_ms_per_step; });
    Row median = runs[2];
    median.ms_per_token = runs[0].ms_per_token;  // the first run: its prompt was not cached
    cjk_align[chars == 4000] = median.align_ms_per_step;
    rows.push_back(median);
  }
  // (d) a chat of 10 turns, ~100 tokens of user text a turn, history sent whole, the
  // prompt cache on (as in serve and chat).
  {
    std::unique_ptr<Ensemble> e;
    CF_RETURN_IF_ERROR(Ensemble::Open(pair, &e));
    std::vector<ChatMessage> history;
    for (int turn = 1; turn <= 10; ++turn) {
      std::string user;
      CF_RETURN_IF_ERROR(Filler(*e, kEnglish, 100, 0, &user));
      history.push_back({"user", std::to_string(turn) + ". " + user});
      Request r;
      r.messages = history;
      r.options.cache_prompt = true;
      GenerationResult g;
      CF_RETURN_IF_ERROR(Generate(*e, r, a, &g));
      history.push_back({"assistant", ToValidUtf8(g.text)});  // random weights: any bytes
      if (turn == 1 || turn == 10) {
        rows.push_back(Measure("(d) chat turn " + std::to_string(turn) + ", prompt cache on", g));
      }
    }
  }
  std::printf(
      "\n== cost as work grows (%zu models given, -n %d; one generation a row; per token and "
      "per step exclude the prompt)\n"
      "| case | prompt tokens | new tokens | steps | ms / new token | engine ms / step "
      "(outside llama_decode) | of which boundary checks and re-encoding |\n"
      "|---|---|---|---|---|---|---|\n",
      models.size(), a.gen.max_new_tokens);
  *out = nlohmann::json::array();
  for (const Row& r : rows) {
    std::printf("| %s | %d | %d | %d | %.2f | %.2f | %.3f |\n", r.label.c_str(), r.prompt_tokens,
                r.new_tokens, r.steps, r.ms_per_token, r.engine_ms_per_step, r.align_ms_per_step);
    out->push_back({{"case", r.label},
                    {"prompt_tokens", r.prompt_tokens},
                    {"new_tokens", r.new_tokens},
                    {"steps", r.steps},
                    {"ms_per_new_token", r.ms_per_token},
                    {"engine_ms_per_step", r.engine_ms_per_step},
                    {"align_ms_per_step", r.align_ms_per_step}});
  }
  // Texts without ASCII words: how the alignment cost per step grows with the text.
  if (cjk_align[0] > 0) {
    std::printf(
        "   CJK-only 4000 vs 100 characters: boundary checks and re-encoding per step "
        "%.3f / %.3f ms = %.2fx\n",
        cjk_align[1], cjk_align[0], cjk_align[1] / cjk_align[0]);
  }
  std::fflush(stdout);
  return Status::Ok();
}

}  // namespace coolfusion::cli
