// Ensemble::Score: given continuations of a prompt (multiple choice) scored by each model
// and fused; Ensemble::TextLogprobs: each token of a whole text, whose sums over a
// continuation's tokens are Score's. Each model's negative log-likelihood is checked against a
// reference computed here with llama.h directly (tokenize prompt + continuation, decode, sum -log p
// of the tokens after the prompt's own), sharing no code with the engine.
#include <coolfusion/engine.h>

#include <gtest/gtest.h>
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "support/open.h"
#include "support/paths.h"

namespace coolfusion {
namespace {

using testing::Open;
using testing::Shared;
using testing::Tiny;

std::vector<llama_token> Tok(const llama_vocab* v, const std::string& s) {
  std::vector<llama_token> t(s.size() + 8);
  int n = llama_tokenize(v, s.data(), (int)s.size(), t.data(), (int)t.size(), true, false);
  if (n < 0) {
    t.resize((size_t)-n);
    n = llama_tokenize(v, s.data(), (int)s.size(), t.data(), (int)t.size(), true, false);
  }
  t.resize((size_t)std::max(n, 0));
  return t;
}

struct Reference {
  double nll = 0;
  int tokens = 0;
};

// The definition: T = tokens of prompt + continuation, d = their common prefix with the
// prompt's tokens; the sum over i >= max(d, 1) of -log p(T[i] | T[:i]).
Reference ReferenceNll(const std::string& path, const std::string& prompt,
                       const std::string& cont) {
  llama_model_params mp = llama_model_default_params();
  std::unique_ptr<llama_model, decltype(&llama_model_free)> model(
      llama_model_load_from_file(path.c_str(), mp), llama_model_free);
  EXPECT_TRUE(model);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 512;
  cp.n_batch = 512;
  std::unique_ptr<llama_context, decltype(&llama_free)> ctx(llama_init_from_model(model.get(), cp),
                                                            llama_free);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  const std::vector<llama_token> p = Tok(vocab, prompt), t = Tok(vocab, prompt + cont);
  size_t d = 0;
  while (d < p.size() && d < t.size() && p[d] == t[d]) ++d;
  llama_batch b = llama_batch_init((int)t.size(), 0, 1);
  for (size_t i = 0; i < t.size(); ++i) {
    b.token[i] = t[i];
    b.pos[i] = (llama_pos)i;
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = 1;
  }
  b.n_tokens = (int)t.size();
  EXPECT_EQ(llama_decode(ctx.get(), b), 0);
  const int nv = llama_vocab_n_tokens(vocab);
  Reference r;
  for (size_t i = std::max<size_t>(d, 1); i < t.size(); ++i) {
    const float* row = llama_get_logits_ith(ctx.get(), (int)i - 1);
    double mx = row[0];
    for (int k = 1; k < nv; ++k) mx = std::max(mx, (double)row[k]);
    double sum = 0;
    for (int k = 0; k < nv; ++k) sum += std::exp((double)row[k] - mx);
    r.nll += -((double)row[t[i]] - mx - std::log(sum));
    ++r.tokens;
  }
  llama_batch_free(b);
  return r;
}

const char* const kPrompt = "Once upon a time, there was a little";
const std::vector<std::string> kChoices = {
    " girl", " dog named Max", " house", " 42", " tree that could talk.", "girl", " girl"};

Request MeanRequest() {
  Request r;
  r.prompt = kPrompt;
  r.options.scoring.rule = ScoreRule::kMeanPpl;  // prompt weights off: equal weights
  return r;
}

TEST(Score, EachModelsLikelihoodIsTheDefinitionsAndTheFusedScoreIsTheRulesOfThem) {
  const std::vector<std::string> paths = {Shared("stories260K"), Tiny("gpt-2")};
  auto e = Open(paths, 512);
  ASSERT_TRUE(e);
  ScoreResult r;
  ASSERT_TRUE(e->Score(MeanRequest(), kChoices, &r).ok());
  ASSERT_EQ(r.continuations.size(), kChoices.size());  // more than one round (3 a round)
  EXPECT_GT(r.counters.scoring_calls, 2);
  for (size_t c = 0; c < kChoices.size(); ++c) {
    const ContinuationScore& cs = r.continuations[c];
    SCOPED_TRACE(kChoices[c]);
    EXPECT_EQ(cs.text, kChoices[c]);
    for (size_t v = 0; v < paths.size(); ++v) {
      const Reference ref = ReferenceNll(paths[v], kPrompt, kChoices[c]);
      EXPECT_EQ(cs.tokens[v], ref.tokens) << v;
      EXPECT_NEAR(cs.nll[v], ref.nll, 1e-3 * std::max(1.0, ref.nll)) << v;
      EXPECT_DOUBLE_EQ(cs.nll_per_byte[v], cs.nll[v] / kChoices[c].size());
      EXPECT_NEAR(cs.ppl[v], std::exp(cs.nll[v] / cs.tokens[v]), 1e-9 * cs.ppl[v]);
    }
    EXPECT_NEAR(cs.score, (cs.ppl[0] + cs.ppl[1]) / 2, 1e-9 * cs.score);  // the paper's mean
    EXPECT_NEAR(cs.nll_fused, (cs.nll[0] + cs.nll[1]) / 2, 1e-9 * cs.nll_fused);  // equal weights
  }
  // The same text twice gets the same scores; the best is the lowest.
  EXPECT_DOUBLE_EQ(r.continuations[0].score, r.continuations[6].score);
  for (const ContinuationScore& cs : r.continuations)
    EXPECT_LE(r.continuations[(size_t)r.best].score, cs.score);
}

TEST(Score, TheSameScoresAloneAsInABatchAndFromTheCache) {
  auto e = Open({Shared("stories260K"), Tiny("gpt-2"), Tiny("llama-spm")}, 512);
  ASSERT_TRUE(e);
  const Request req = MeanRequest();
  ScoreResult all, again;
  ASSERT_TRUE(e->Score(req, kChoices, &all).ok());
  ASSERT_TRUE(e->Score(req, kChoices, &again).ok());
  EXPECT_GT(again.n_cached_tokens, 0);  // the prompt came from the cache
  for (size_t c = 0; c < kChoices.size(); ++c) {
    ScoreResult one;
    ASSERT_TRUE(e->Score(req, {kChoices[c]}, &one).ok());
    for (size_t v = 0; v < 3; ++v) {
      EXPECT_NEAR(one.continuations[0].nll[v], all.continuations[c].nll[v], 1e-3) << c << " " << v;
      EXPECT_NEAR(again.continuations[c].nll[v], all.continuations[c].nll[v], 1e-3) << c;
    }
  }
  // Generation after scoring starts from a clean cache: the same text as a fresh ensemble.
  auto fresh = Open({Shared("stories260K"), Tiny("gpt-2"), Tiny("llama-spm")}, 512);
  Request g = req;
  g.options.max_new_tokens = 12;
  GenerationResult a, b;
  ASSERT_TRUE(e->Generate(g, nullptr, &a).ok());
  ASSERT_TRUE(fresh->Generate(g, nullptr, &b).ok());
  EXPECT_EQ(a.text, b.text);
}

TEST(Score, OneModelAloneAndTheDefaultRule) {
  const std::vector<std::string> paths = {Tiny("gpt-2"), Shared("stories260K")};
  auto e = Open(paths, 512);
  ASSERT_TRUE(e);
  Request only = MeanRequest();
  only.options.only_model = 1;
  ScoreResult r;
  ASSERT_TRUE(e->Score(only, kChoices, &r).ok());
  EXPECT_TRUE(r.models.empty());
  for (size_t c = 0; c < kChoices.size(); ++c) {
    const ContinuationScore& cs = r.continuations[c];
    EXPECT_TRUE(std::isnan(cs.nll[0]));
    EXPECT_NEAR(cs.nll[1], ReferenceNll(paths[1], kPrompt, kChoices[c]).nll, 1e-3 * cs.nll[1]);
    EXPECT_NEAR(cs.score, cs.ppl[1], 1e-9 * cs.score);
    EXPECT_DOUBLE_EQ(cs.nll_fused, cs.nll[1]);
  }
  // The trained model prefers the story's own words to digits.
  EXPECT_LT(r.continuations[0].nll[1], r.continuations[3].nll[1]);
  // The default rule (auto): prompt weights; the random-weight model sits out here.
  Request def;
  def.prompt = kPrompt;
  ASSERT_TRUE(e->Score(def, kChoices, &r).ok());
  ASSERT_EQ(r.models.size(), 2u);
  for (const ContinuationScore& cs : r.continuations) {
    if (r.models[0].sat_out) {
      EXPECT_TRUE(std::isnan(cs.nll[0]));
      EXPECT_NEAR(cs.score, cs.ppl[1], 1e-9 * cs.score);
      EXPECT_DOUBLE_EQ(cs.nll_fused, cs.nll[1]);
    } else {
      const double w0 = r.models[0].weight, w1 = r.models[1].weight;
      EXPECT_NEAR(cs.nll_fused, (w0 * cs.nll[0] + w1 * cs.nll[1]) / (w0 + w1), 1e-9 * cs.nll_fused);
    }
    EXPECT_TRUE(std::isfinite(cs.score));
  }
}

TEST(Score, BadInputIsAClearError) {
  auto e = Open({Tiny("gpt-2"), Tiny("llama-spm")}, 512);
  ASSERT_TRUE(e);
  ScoreResult r;
  const Request req = MeanRequest();
  auto code = [&](const std::vector<std::string>& c) { return e->Score(req, c, &r); };
  EXPECT_EQ(code({}).code(), Status::Code::kInvalidArgument);
  EXPECT_NE(code({" a", ""}).message().find("continuation 2 is empty"), std::string::npos);
  EXPECT_EQ(code({"\xff\xfe"}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(code(std::vector<std::string>(5000, " a")).code(), Status::Code::kInvalidArgument);
  const Status big = code({std::string(4000, 'x') + " y"});
  EXPECT_EQ(big.code(), Status::Code::kResourceExhausted) << big.message();
  Request empty = req;
  empty.prompt.clear();
  EXPECT_EQ(e->Score(empty, {" a"}, &r).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(code({" still fine"}).ok());  // nothing was left behind
}

// The sum of the fused logprobs of the first model's tokens from index `from` on.
double SumFrom(const TextLogprobsResult& r, size_t from) {
  double s = 0;
  for (size_t k = from; k < r.tokens.size(); ++k) s += r.tokens[k].logprob;
  return s;
}

Ensemble::TextLogprobsRequest TextOf(const std::string& text) {
  Ensemble::TextLogprobsRequest r;
  r.text = text;
  return r;
}

TEST(TextLogprobs, OneModelsTokensAreItsOwnLikelihoodsAndItsTopTokens) {
  const std::string path = Shared("stories260K");
  auto e = Open({path}, 512);
  ASSERT_TRUE(e);
  std::vector<int32_t> ctx;
  ASSERT_TRUE(e->Tokenize(0, kPrompt, &ctx).ok());
  for (const char* choice : {" girl", " dog named Max", " tree that could talk."}) {
    SCOPED_TRACE(choice);
    TextLogprobsResult r;
    ASSERT_TRUE(e->TextLogprobs(TextOf(kPrompt + std::string(choice)), &r).ok());
    ASSERT_GT(r.tokens.size(), ctx.size());
    for (size_t k = 0; k < ctx.size(); ++k) EXPECT_EQ(r.tokens[k].id, ctx[k]);
    EXPECT_TRUE(std::isnan(r.tokens[0].logprob));
    const Reference ref = ReferenceNll(path, kPrompt, choice);
    EXPECT_EQ((int)(r.tokens.size() - ctx.size()), ref.tokens);
    EXPECT_NEAR(-SumFrom(r, ctx.size()), ref.nll, 1e-3 * std::max(1.0, ref.nll));
    for (size_t k = 1; k < r.tokens.size(); ++k) {
      const TokenLogprob& t = r.tokens[k];
      ASSERT_EQ(t.top.size(), 1u);
      EXPECT_LE(t.logprob, t.top[0].second + 1e-6);  // the top token is the most likely
      if (t.top[0].first == t.id) {
        EXPECT_NEAR(t.logprob, t.top[0].second, 1e-9);
      }
      EXPECT_EQ(t.offset, r.tokens[k - 1].offset + r.tokens[k - 1].piece.size() -
                              (k == 1 && r.tokens[0].piece[0] == ' ' ? 1 : 0));
    }
    ASSERT_EQ(r.next.size(), 1u);
    EXPECT_LE(r.next[0].second, 0.0);
  }
  // The same model in an ensemble, alone (only_model): the same logprobs on its tokens,
  // which Detokenize spells back.
  auto pair = Open({Tiny("gpt-2"), path}, 512);
  ASSERT_TRUE(pair);
  Ensemble::TextLogprobsRequest alone = TextOf(kPrompt + std::string(" girl"));
  TextLogprobsResult a, b;
  ASSERT_TRUE(e->TextLogprobs(alone, &a).ok());
  alone.only_model = 1;
  ASSERT_TRUE(pair->TextLogprobs(alone, &b).ok());
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  std::vector<int32_t> ids;
  for (size_t k = 0; k < a.tokens.size(); ++k) {
    EXPECT_EQ(a.tokens[k].id, b.tokens[k].id);
    if (k > 0) {
      EXPECT_NEAR(a.tokens[k].logprob, b.tokens[k].logprob, 1e-6);
    }
    ids.push_back(b.tokens[k].id);
  }
  EXPECT_EQ(b.weights, (std::vector<double>{0, 1}));
  std::string spelled;
  ASSERT_TRUE(pair->Detokenize(1, ids, &spelled).ok());
  EXPECT_EQ(spelled, alone.text);
  EXPECT_EQ(pair->Detokenize(1, {1 << 30}, &spelled).code(), Status::Code::kInvalidArgument);
  // Five top tokens, best first.
  Ensemble::TextLogprobsRequest five = TextOf(kPrompt);
  five.top_logprobs = 5;
  TextLogprobsResult r;
  ASSERT_TRUE(e->TextLogprobs(five, &r).ok());
  ASSERT_EQ(r.tokens[3].top.size(), 5u);
  for (size_t i = 1; i < 5; ++i)
    EXPECT_GE(r.tokens[3].top[i - 1].second, r.tokens[3].top[i].second);
}

TEST(TextLogprobs, FusedSumsOverAContinuationAreScoresFusedNll) {
  auto e = Open({Shared("stories260K"), Tiny("gpt-2"), Tiny("llama-spm")}, 512);
  ASSERT_TRUE(e);
  std::vector<int32_t> ctx;
  ASSERT_TRUE(e->Tokenize(0, kPrompt, &ctx).ok());
  const std::vector<std::string> choices = {" girl", " dog named Max", " tree that could talk."};
  ScoreResult sr;
  ASSERT_TRUE(e->Score(MeanRequest(), choices, &sr).ok());
  for (size_t c = 0; c < choices.size(); ++c) {
    SCOPED_TRACE(choices[c]);
    TextLogprobsResult r;
    ASSERT_TRUE(e->TextLogprobs(TextOf(kPrompt + choices[c]), &r).ok());
    ASSERT_EQ(r.weights.size(), 3u);
    for (double w : r.weights) EXPECT_NEAR(w, 1.0 / 3, 1e-12);
    const double nll = sr.continuations[c].nll_fused;
    EXPECT_NEAR(-SumFrom(r, ctx.size()), nll, 1e-3 * std::max(1.0, nll));
    // Each model's share is its own: the tokens given instead of the text read the same.
    std::vector<int32_t> ids;
    for (const TokenLogprob& t : r.tokens) ids.push_back(t.id);
    Ensemble::TextLogprobsRequest given;
    given.tokens = ids;
    TextLogprobsResult g;
    ASSERT_TRUE(e->TextLogprobs(given, &g).ok());
    EXPECT_EQ(g.text, kPrompt + choices[c]);
    ASSERT_EQ(g.tokens.size(), r.tokens.size());
    for (size_t k = 1; k < r.tokens.size(); ++k)
      EXPECT_NEAR(g.tokens[k].logprob, r.tokens[k].logprob, 1e-6) << k;
  }
  // Generation afterwards starts from the cache the pass left: as a fresh ensemble.
  auto fresh = Open({Shared("stories260K"), Tiny("gpt-2"), Tiny("llama-spm")}, 512);
  Request g = MeanRequest();
  g.prompt = kPrompt + choices[2];  // the last text scored: its cache is reused
  g.options.max_new_tokens = 12;
  GenerationResult a, b;
  ASSERT_TRUE(e->Generate(g, nullptr, &a).ok());
  ASSERT_TRUE(fresh->Generate(g, nullptr, &b).ok());
  EXPECT_GT(a.n_cached_tokens, 0);
  EXPECT_EQ(a.text, b.text);
}

TEST(TextLogprobs, BadInputIsAClearError) {
  auto e = Open({Tiny("gpt-2"), Tiny("llama-spm")}, 512);
  ASSERT_TRUE(e);
  TextLogprobsResult r;
  EXPECT_EQ(e->TextLogprobs(TextOf(""), &r).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(e->TextLogprobs(TextOf("\xff\xfe"), &r).code(), Status::Code::kInvalidArgument);
  Ensemble::TextLogprobsRequest bad = TextOf("a b");
  bad.top_logprobs = 21;
  EXPECT_EQ(e->TextLogprobs(bad, &r).code(), Status::Code::kInvalidArgument);
  bad.top_logprobs = -1;
  EXPECT_EQ(e->TextLogprobs(bad, &r).code(), Status::Code::kInvalidArgument);
  Ensemble::TextLogprobsRequest ids;
  ids.tokens = {10, 1 << 30};
  const Status st = e->TextLogprobs(ids, &r);
  EXPECT_NE(st.message().find("token 2"), std::string::npos) << st.message();
  const Status big = e->TextLogprobs(TextOf(std::string(4000, 'x') + " y"), &r);
  EXPECT_EQ(big.code(), Status::Code::kResourceExhausted) << big.message();
  EXPECT_TRUE(e->TextLogprobs(TextOf("still fine"), &r).ok());
}

}  // namespace
}  // namespace coolfusion
