// The fusion engine on models with weights: the project's random-weight models with
// real vocabularies (llama-spm, gpt-2, qwen2) and the shared pretrained tiny models.
#include <coolfusion/engine.h>

#include <gtest/gtest.h>
#include <llama.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "fusion/method.h"
#include "fusion/methods/cool.h"
#include "fusion/scoring.h"
#include "fusion/session.h"
#include "fusion/step_aligner.h"
#include "support/open.h"
#include "support/paths.h"
#include "support/reference.h"

namespace coolfusion {
namespace {

using testing::Open;
using testing::Shared;
using testing::Tiny;

const std::vector<std::string>& Prompts() {
  static const std::vector<std::string> p = {
      "Once upon a time",
      "The little dog",
      "She opened the door and",
      "In the morning, the sun",
      "Tom and Mia went to the park",
      "The cat sat on the",
      "One day, a big",
      "He was very happy because",
      "The old man said",
      "It was a cold night",
      "The bird flew over the",
      "My favorite food is",
      "There was a girl named Lily",
      "The boy wanted to play with",
      "After school, they",
      "A red ball rolled",
      "The king and the queen",
      "Every day she would",
      "The tree was tall and",
      "Why is the sky blue? Because",
      "Hello, world",
      "The number 42 is",
  };
  return p;
}

// `defaults`: the engine's default scoring (prompt weights, word ends). Without it every
// model takes part, as the mechanics under test need: random-weight and off-domain test
// models would sit out under prompt weights (tested in prompt_weights_test.cc).
GenerationResult Gen(Ensemble& e, const std::string& prompt, const std::string& m, int n,
                     bool defaults = false) {
  Request r;
  r.prompt = prompt;
  r.options.method = m;
  r.options.max_new_tokens = n;
  if (!defaults) r.options.scoring.prompt_weights = Switch::kOff;
  GenerationResult out;
  Status st = e.Generate(r, nullptr, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

std::vector<std::string> AllTestModels() {
  return {Tiny("llama-spm"),     Tiny("gpt-2"),          Tiny("qwen2"),
          Shared("stories260K"), Shared("aidreams260K"), Shared("babyllama105")};
}

// Must show: -m A -m A gives a prefix of -m A's greedy text, byte for byte.
TEST(Fusion, IdentityFusingAModelWithItselfIsItsGreedyText) {
  for (const auto& path : AllTestModels()) {
    auto single = Open({path});
    ASSERT_TRUE(single);
    auto twice = Open({path, path});
    ASSERT_TRUE(twice);
    ASSERT_TRUE(single && twice);
    int nonempty = 0;
    for (size_t pi = 0; pi < Prompts().size(); ++pi) {
      const std::string& prompt = Prompts()[pi];
      // Without prompt weights and word ends, and (on the first 8 prompts: the sanitizer
      // build's time) with the engine's defaults.
      for (bool defaults : {false, true}) {
        if (defaults && pi >= 8) continue;
        const GenerationResult greedy = Gen(*single, prompt, "single", 48, defaults);
        const GenerationResult fused = Gen(*twice, prompt, "cool", 24, defaults);
        EXPECT_EQ(greedy.text.compare(0, fused.text.size(), fused.text), 0)
            << path << "\nprompt: " << prompt << "\nfused:  " << fused.text
            << "\ngreedy: " << greedy.text;
        nonempty += !fused.text.empty() && !defaults;
        // Identical drafts are scored by nobody: no scoring decode at all.
        EXPECT_EQ(fused.counters.scoring_calls, 0) << path;
        // The same model fits the prompt the same: equal weights, nobody sits out.
        EXPECT_EQ(fused.counters.sat_out, 0) << path;
        if (defaults && fused.models.size() == 2) {
          EXPECT_EQ(fused.models[0].prompt_bits_per_byte, fused.models[1].prompt_bits_per_byte)
              << path;
        }
      }
    }
    EXPECT_GE(nonempty, 15) << path;
  }
}

// An ensemble of one model runs it alone whatever method the request names (issue 36: the
// server's one-model slots drafted to each word's end and took the token past it back):
// single's text, with single's decodes.
TEST(Fusion, AnEnsembleOfOneModelIsThatModelAloneWhateverTheMethod) {
  for (const auto& path : AllTestModels()) {
    auto single = Open({path});
    ASSERT_TRUE(single);
    int budget_spent = 0;
    const auto gen = [&](const std::string& prompt, const char* method,
                         Switch healing = Switch::kDefault) {
      Request req;
      req.prompt = prompt;
      req.options.method = method;
      req.options.token_healing = healing;
      req.options.max_new_tokens = 24;
      req.options.cache_prompt = false;  // every request decodes its whole prompt
      GenerationResult out;
      const Status st = single->Generate(req, nullptr, &out);
      EXPECT_TRUE(st.ok()) << st.message();
      return out;
    };
    for (size_t pi = 0; pi < 8; ++pi) {
      const std::string& prompt = Prompts()[pi];
      const GenerationResult greedy = gen(prompt, "single");
      // One decode call per new token, as llama-server: the prompt's gives the first
      // token's logits, and the token that spends the budget is not decoded (unhealed).
      const GenerationResult plain = gen(prompt, "single", Switch::kOff);
      if (plain.stop_reason == StopReason::kMaxTokens) {
        EXPECT_EQ(plain.counters.decode_calls, 24) << path << " on " << prompt;
        EXPECT_EQ(plain.counters.tokens_decoded, plain.n_prompt_tokens + 23) << path;
        ++budget_spent;
      }
      for (const char* m : {"cool", "cool-shortest", "rerank", "cool+r", "gac", "unite"}) {
        const GenerationResult r = gen(prompt, m);
        EXPECT_EQ(r.text, greedy.text) << path << " " << m << " on " << prompt;
        EXPECT_EQ(r.counters.decode_calls, greedy.counters.decode_calls)
            << path << " " << m << " on " << prompt;
        EXPECT_EQ(r.counters.tokens_decoded, greedy.counters.tokens_decoded)
            << path << " " << m << " on " << prompt;
      }
    }
    EXPECT_GE(budget_spent, 4) << path;
  }
}

class ReferenceVocabs {
 public:
  explicit ReferenceVocabs(const std::vector<std::string>& paths) {
    for (const auto& p : paths) {
      llama_model_params mp = llama_model_default_params();
      mp.vocab_only = true;
      models_.push_back(llama_model_load_from_file(p.c_str(), mp));
      vocabs_.push_back(llama_model_get_vocab(models_.back()));
    }
  }
  ~ReferenceVocabs() {
    for (auto* m : models_) llama_model_free(m);
  }
  const std::vector<const llama_vocab*>& vocabs() const { return vocabs_; }

 private:
  std::vector<llama_model*> models_;
  std::vector<const llama_vocab*> vocabs_;
};

// Must show: every segment end of a fused output is a common word boundary of
// prompt + final text.
TEST(Fusion, EverySegmentEndIsACommonWordBoundaryOfTheFinalText) {
  const std::vector<std::vector<std::string>> sets = {
      {Tiny("llama-spm"), Tiny("gpt-2"), Tiny("qwen2")},
      {Shared("stories260K"), Shared("aidreams260K"), Shared("babyllama105")},
      {Shared("stories260K"), Tiny("gpt-2")},
  };
  for (const auto& set : sets) {
    auto e = Open(set);
    ASSERT_TRUE(e);
    ReferenceVocabs ref(set);
    size_t checked = 0, unaligned = 0;
    for (const auto& prompt : Prompts()) {
      const GenerationResult r = Gen(*e, prompt, "cool", 40);
      const std::string full = prompt + r.text;
      std::vector<size_t> want;
      ASSERT_TRUE(testing::ReferenceBoundaries(ref.vocabs(), full, &want)) << full;
      size_t end = prompt.size();
      std::string concat;
      for (const Segment& s : r.segments) {
        end += s.text.size();
        concat += s.text;
        if (!s.aligned) {
          ++unaligned;  // no common boundary within max_segment_tokens: reported, not hidden
          continue;
        }
        EXPECT_TRUE(std::binary_search(want.begin(), want.end(), end))
            << "segment ending at " << end << " of \"" << full
            << "\" is not a common word boundary";
        ++checked;
      }
      EXPECT_EQ(concat, r.text);
    }
    EXPECT_GT(checked, 100u);
    EXPECT_LE(unaligned, checked / 20);
  }
}

// Must show: batched scoring equals one-by-one scoring (each PPL within 1e-4 relative).
TEST(Fusion, BatchedScoringEqualsOneByOneScoring) {
  const std::vector<std::string> set = {Tiny("llama-spm"), Tiny("gpt-2"), Tiny("qwen2"),
                                        Shared("stories260K")};
  std::vector<std::unique_ptr<LlamaModel>> owned;
  std::vector<LlamaModel*> models;
  for (const auto& p : set) {
    ModelOptions mo;
    mo.path = p;
    mo.n_threads = 1;
    std::unique_ptr<LlamaModel> m;
    ASSERT_TRUE(LlamaModel::Load(mo, (int)set.size() + 2, (int)set.size() + 1, &m).ok());
    models.push_back(m.get());
    owned.push_back(std::move(m));
  }
  GenerateOptions opts;
  size_t compared = 0, own_compared = 0;
  for (const auto& prompt : Prompts()) {
    Session s(models, std::vector<double>(set.size(), 1.0), opts);
    std::vector<std::string> warnings;
    Request req;
    req.prompt = prompt;
    ASSERT_TRUE(s.Start(req, {}, &warnings).ok());
    StepAligner aligner;
    aligner.Prepare(AlignerInputs(s));
    std::vector<Draft> drafts(set.size());
    for (size_t v = 0; v < set.size(); ++v) {
      auto stop = [&](Draft& d) {
        d.cut_tokens = aligner.FindCut(d, true);
        return d.cut_tokens > 0;
      };
      ASSERT_TRUE(s.MakeDraft((int)v, 16, stop, &drafts[v]).ok());
      if (drafts[v].cut_tokens == 0) drafts[v].cut_tokens = drafts[v].tokens.size();
    }
    std::vector<StepCandidate> cands;
    for (const auto& d : drafts) cands.push_back({d.Candidate(), false, {d.model}, true});
    std::vector<const Draft*> none(set.size(), nullptr);
    std::vector<std::vector<double>> batched;
    ASSERT_TRUE(s.Score(cands, none, &batched).ok());
    for (size_t c = 0; c < cands.size(); ++c) {
      std::vector<std::vector<double>> one;
      ASSERT_TRUE(s.Score({cands[c]}, none, &one).ok());
      for (size_t v = 0; v < set.size(); ++v) {
        const double a = batched[c][v], b = one[0][v];
        EXPECT_LE(std::fabs(a - b), 1e-4 * std::max(std::fabs(a), std::fabs(b)))
            << "candidate \"" << cands[c].text << "\" model " << v << ": batched " << a
            << " vs one-by-one " << b;
        ++compared;
      }
    }
    // A writer's own log-likelihoods (from drafting) equal scoring its text by decoding,
    // whenever its draft's tokens are the ones re-encoding its text gives (the canonical
    // tokenization: then both score the same tokens).
    std::vector<const Draft*> own;
    for (const auto& d : drafts) own.push_back(&d);
    std::vector<std::vector<double>> with_own;
    ASSERT_TRUE(s.Score(cands, own, &with_own).ok());
    for (size_t c = 0; c < cands.size(); ++c) {
      std::vector<Token> whole, expected = s.tokens((int)c);
      ASSERT_TRUE(
          models[c]
              ->Tokenize(s.text((int)c) + cands[c].text, models[c]->add_bos(), false, &whole)
              .ok());
      expected.insert(expected.end(), drafts[c].tokens.begin(),
                      drafts[c].tokens.begin() + drafts[c].cut_tokens);
      if (whole != expected || cands[c].text.empty()) continue;
      const double a = with_own[c][c], b = batched[c][c];
      EXPECT_NEAR(a, b, 1e-3 * b) << "model " << c << "'s own candidate \"" << cands[c].text
                                  << "\"";
      ++own_compared;
    }
    s.DropDrafts();
  }
  EXPECT_GT(compared, 200u);
  EXPECT_GT(own_compared, 40u);  // of 88 (22 prompts x 4 models)
}

// Must show: stories260K + aidreams260K + babyllama105 end to end, including prompts
// with characters babyllama105 cannot encode.
TEST(Fusion, SharedTinyModelsRunEndToEndEvenWithUnencodableCharacters) {
  auto e = Open({Shared("stories260K"), Shared("aidreams260K"), Shared("babyllama105")});
  ASSERT_TRUE(e);
  for (std::string m : {"cool", "cool-shortest", "rerank", "cool+r"}) {
    const GenerationResult r = Gen(*e, "Once upon a time", m, 30);
    EXPECT_FALSE(r.text.empty()) << MethodName(m);
  }
  // '\n', '#', '{' are not in babyllama105's vocabulary: it is left out, with a warning.
  Request req;
  req.prompt = "Once upon a time\n# {there} was";
  req.options.max_new_tokens = 20;
  GenerationResult r;
  Status st = e->Generate(req, nullptr, &r);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("model 3 (babyllama105) cannot encode the prompt"),
            std::string::npos)
      << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("U+000A"), std::string::npos) << r.warnings[0];
  EXPECT_FALSE(r.text.empty());
  // A prompt nobody can encode... babyllama alone: a clear error, not a crash.
  auto baby = Open({Shared("babyllama105")});
  ASSERT_TRUE(baby);
  req.options.method = "single";
  st = baby->Generate(req, nullptr, &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("cannot encode"), std::string::npos) << st.message();
}

TEST(Fusion, StopsForEachReason) {
  auto e = Open({Shared("stories260K"), Tiny("gpt-2")});
  ASSERT_TRUE(e);
  Request req;
  req.prompt = "Once upon a time";
  req.options.max_new_tokens = 12;
  GenerationResult r;
  ASSERT_TRUE(e->Generate(req, nullptr, &r).ok());
  EXPECT_EQ(r.stop_reason, StopReason::kMaxTokens);
  EXPECT_GE(r.n_new_tokens, 12);

  // A stop string that spans segments cuts the text before it.
  auto single = Open({Shared("stories260K")});
  ASSERT_TRUE(single);
  GenerationResult g = Gen(*single, "Once upon a time", "single", 40);
  ASSERT_NE(g.text.find("little girl"), std::string::npos) << g.text;
  req.options.method = "cool";
  req.options.max_new_tokens = 60;
  req.options.stop = {"little girl"};
  auto twice = Open({Shared("stories260K"), Shared("stories260K")});
  ASSERT_TRUE(twice);
  std::string streamed;
  ASSERT_TRUE(twice
                  ->Generate(
                      req,
                      [&](const Segment&, std::string_view d) {
                        streamed += d;
                        return true;
                      },
                      &r)
                  .ok());
  EXPECT_EQ(r.stop_reason, StopReason::kStopString);
  EXPECT_EQ(r.text, g.text.substr(0, g.text.find("little girl")));
  EXPECT_EQ(streamed, r.text);  // nothing of the stop string was streamed

  // Context full: a 24-token context.
  auto small = Open({Shared("stories260K"), Shared("aidreams260K")}, 24);
  ASSERT_TRUE(small);
  req.options.stop.clear();
  ASSERT_TRUE(small->Generate(req, nullptr, &r).ok());
  EXPECT_EQ(r.stop_reason, StopReason::kContextFull);

  // The callback can cancel.
  int calls = 0;
  ASSERT_TRUE(twice
                  ->Generate(
                      req, [&](const Segment&, std::string_view) { return ++calls < 3; }, &r)
                  .ok());
  EXPECT_EQ(r.stop_reason, StopReason::kCancelled);
  EXPECT_EQ(calls, 3);
}

// Makes rand-gpt-2 again (same weights) with its end-of-generation token set to the
// token its greedy text (with token healing as `healing` says) emits as the `k`-th new token
// after `prompt`.
std::string MakeEosModel(const std::string& prompt, int k, Switch healing = Switch::kDefault) {
  auto base = Open({Tiny("gpt-2")});
  if (!base) return "";  // Open recorded the failure
  Request r;
  r.prompt = prompt;
  r.options.method = "single";
  r.options.max_new_tokens = k + 1;
  r.options.scoring.prompt_weights = Switch::kOff;
  r.options.token_healing = healing;
  GenerationResult g;
  EXPECT_TRUE(base->Generate(r, nullptr, &g).ok());
  EXPECT_GT(g.segments.size(), (size_t)k);
  std::vector<int32_t> ids;
  EXPECT_TRUE(base->Tokenize(0, g.segments[k].text, &ids).ok());
  EXPECT_EQ(ids.size(), 1u) << g.segments[k].text;
  const std::string out = ::testing::TempDir() + "/rand-gpt-2-eos-" + std::to_string(getpid()) +
                          "-" + std::to_string(ids[0]) + ".gguf";
  const std::string cmd = testing::MakeModelPath() + " --vocab " + testing::Vocab("gpt-2") +
                          " --out " + out + " " + testing::TinyModelArgs() + " --eos-id " +
                          std::to_string(ids[0]) + " 2>/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return out;
}

TEST(Fusion, EndOfGenerationInsideTheWinningSegmentStops) {
  const std::string prompt = "The little dog";
  const std::string eos_model = MakeEosModel(prompt, 5);
  auto base = Open({Tiny("gpt-2")});
  ASSERT_TRUE(base);
  const GenerationResult greedy = Gen(*base, prompt, "single", 5);
  auto single = Open({eos_model});
  ASSERT_TRUE(single);
  const GenerationResult s = Gen(*single, prompt, "single", 50);
  EXPECT_EQ(s.stop_reason, StopReason::kEndOfGeneration);
  EXPECT_EQ(s.text, greedy.text);
  // Fused with itself: the candidate that ends generation wins and generation stops there.
  auto twice = Open({eos_model, eos_model});
  ASSERT_TRUE(twice);
  const GenerationResult r = Gen(*twice, prompt, "cool", 50);
  EXPECT_EQ(r.stop_reason, StopReason::kEndOfGeneration) << r.text;
  EXPECT_EQ(r.text, greedy.text);
  ASSERT_FALSE(r.segments.empty());
  EXPECT_TRUE(r.segments.back().candidates.at(r.segments.back().winning_candidate).ends_generation);
  // A model that emits end-of-generation first, fused with one that does not: its
  // candidate competes like any other (scored with the other model's own EOS), no crash.
  const std::string first = MakeEosModel(prompt, 0, Switch::kOff);
  auto mixed = Open({first, Shared("stories260K")});
  ASSERT_TRUE(mixed);
  // Without token healing: the healed first step would have to start with the prompt's
  // last token's text, which the end-of-generation token does not.
  Request mr;
  mr.prompt = prompt;
  mr.options.method = "cool";
  mr.options.max_new_tokens = 20;
  mr.options.scoring.prompt_weights = Switch::kOff;
  mr.options.token_healing = Switch::kOff;
  GenerationResult m;
  ASSERT_TRUE(mixed->Generate(mr, nullptr, &m).ok());
  ASSERT_FALSE(m.segments.empty());
  const Segment& s0 = m.segments.front();
  int eog_candidate = -1;
  for (size_t c = 0; c < s0.candidates.size(); ++c) {
    const Candidate& cand = s0.candidates[c];
    if (cand.ends_generation && cand.text.empty()) eog_candidate = (int)c;
  }
  ASSERT_GE(eog_candidate, 0) << "model 0's end-of-generation is not among the candidates";
  EXPECT_EQ(s0.candidates[eog_candidate].writers, std::vector<int>{0});
  EXPECT_TRUE(std::isfinite(s0.candidates[eog_candidate].ppl[1]));  // stories260K scored it
  if (s0.winning_candidate == eog_candidate) {
    EXPECT_EQ(m.stop_reason, StopReason::kEndOfGeneration);
    EXPECT_EQ(m.text, "");
  } else {
    EXPECT_FALSE(m.text.empty());
  }
}

TEST(Fusion, TraceCountsEventsAndTimes) {
  auto e = Open({Tiny("llama-spm"), Tiny("gpt-2"), Tiny("qwen2")});
  ASSERT_TRUE(e);
  Request req;
  req.prompt = "The quick brown fox";
  req.options.max_new_tokens = 30;
  req.options.parallel_models = false;  // decode time summed over models is then <= wall time
  GenerationResult r;
  ASSERT_TRUE(e->Generate(req, nullptr, &r).ok());
  // The same text when the models run side by side.
  req.options.parallel_models = true;
  GenerationResult p;
  ASSERT_TRUE(e->Generate(req, nullptr, &p).ok());
  EXPECT_EQ(p.text, r.text);
  // Most scoring is done while the models draft (pre-scoring), the rest in batched calls.
  EXPECT_GT(r.counters.prescored_tokens, 0);
  EXPECT_EQ(p.counters.prescored_tokens, r.counters.prescored_tokens);
  EXPECT_GT(r.counters.scoring_calls + r.counters.prescored_tokens, 0);
  EXPECT_GT(r.counters.candidates_scored, 0);
  EXPECT_GT(r.counters.boundary_checks, 0);
  EXPECT_GT(r.timings.decode_ms, 0);
  EXPECT_GE(r.timings.total_ms, r.timings.decode_ms);
  for (const Segment& s : r.segments) {
    ASSERT_FALSE(s.candidates.empty());
    for (const Candidate& c : s.candidates) EXPECT_EQ(c.ppl.size(), 3u);
    EXPECT_EQ(s.tokens_decoded.size(), 3u);
    const std::string& won = s.candidates[s.winning_candidate].text;
    if (&s == &r.segments.back() && r.stop_reason == StopReason::kMaxTokens) {
      EXPECT_EQ(won.compare(0, s.text.size(), s.text), 0) << s.text;  // cut at -n
    } else {
      EXPECT_EQ(s.text, won);
    }
  }
}

// Each rule's winner is the candidate with the lowest score under that rule (recomputed
// here from the reported perplexities), and the rules do pick differently on real text.
TEST(Fusion, ScoringRulesChangeTheChoiceNotTheMechanics) {
  auto e = Open({Shared("stories260K"), Shared("aidreams260K"), Shared("babyllama105")});
  ASSERT_TRUE(e);
  std::map<ScoreRule, std::vector<std::string>> texts;
  for (ScoreRule rule : {ScoreRule::kMeanPpl, ScoreRule::kGeoMeanPpl, ScoreRule::kSweetSpan,
                         ScoreRule::kMedianPpl}) {
    ScoringOptions so;
    so.rule = rule;
    const std::unique_ptr<ScoringRule> scorer = MakeScoringRule(so);
    for (size_t i = 0; i < 8; ++i) {
      Request req;
      req.prompt = Prompts()[i];
      req.options.max_new_tokens = 24;
      req.options.scoring.rule = rule;
      GenerationResult r;
      ASSERT_TRUE(e->Generate(req, nullptr, &r).ok());
      ASSERT_FALSE(r.text.empty());
      for (const Segment& seg : r.segments) {
        if (seg.candidates.size() < 2) continue;
        const std::vector<double> w(3, 1.0);
        bool any_keeps = false;
        for (const Candidate& c : seg.candidates) any_keeps |= c.keeps_start;
        double best = std::numeric_limits<double>::infinity();
        for (const Candidate& c : seg.candidates) {
          std::vector<bool> used;
          const double score = scorer->Score(c.ppl, w, &used);
          EXPECT_NEAR(score, c.score, 1e-9 * std::max(1.0, std::fabs(score)));
          if (c.keeps_start || !any_keeps) best = std::min(best, score);
        }
        EXPECT_EQ(seg.candidates[seg.winning_candidate].score, best) << ScoreRuleName(rule);
      }
      texts[rule].push_back(r.text);
    }
  }
  EXPECT_NE(texts[ScoreRule::kMeanPpl], texts[ScoreRule::kMedianPpl]);
  EXPECT_NE(texts[ScoreRule::kMeanPpl], texts[ScoreRule::kGeoMeanPpl]);
}

// Sampling: the same seed gives the same text; another seed, or greedy, another text.
TEST(Fusion, SamplingIsSeededAndReproducible) {
  auto e = Open({Shared("stories260K"), Shared("aidreams260K")});
  ASSERT_TRUE(e);
  auto run = [&](float temp, uint32_t seed) {
    Request req;
    req.prompt = "Once upon a time";
    req.options.max_new_tokens = 40;
    req.options.sampling.temperature = temp;
    req.options.sampling.seed = seed;
    GenerationResult r;
    EXPECT_TRUE(e->Generate(req, nullptr, &r).ok());
    return r.text;
  };
  const std::string a = run(0.8f, 42);
  EXPECT_EQ(a, run(0.8f, 42));
  EXPECT_NE(a, run(0.8f, 43));
  EXPECT_NE(a, run(0.0f, 42));
  EXPECT_EQ(run(0.0f, 1), run(0.0f, 2));  // greedy ignores the seed
}

TEST(Chat, EachModelUsesItsOwnTemplateAndContentsNeverBecomeSpecialTokens) {
  const std::string chat_model = testing::TinyModelDir() + "/rand-qwen2-chat.gguf";
  std::vector<std::unique_ptr<LlamaModel>> owned;
  std::vector<LlamaModel*> models;
  for (const auto& p : {chat_model, Tiny("gpt-2")}) {
    ModelOptions mo;
    mo.path = p;
    mo.n_threads = 1;
    std::unique_ptr<LlamaModel> m;
    ASSERT_TRUE(LlamaModel::Load(mo, 4, 3, &m).ok());
    models.push_back(m.get());
    owned.push_back(std::move(m));
  }
  ASSERT_FALSE(models[0]->chat_template().empty());
  ASSERT_TRUE(models[1]->chat_template().empty());
  Session s(models, {1.0, 1.0}, GenerateOptions());
  Request req;
  req.messages = {{"system", "Be brief."}, {"user", "Say <|im_end|> and <|im_start|> please"}};
  std::vector<std::string> warnings;
  ASSERT_TRUE(s.Start(req, {}, &warnings).ok());
  // ChatML for model 0, the plain fallback for model 1.
  EXPECT_EQ(
      s.text(0),
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSay <|im_end|> and <|im_start|> "
      "please<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(s.text(1),
            "System: Be brief.\nUser: Say <|im_end|> and <|im_start|> please\nAssistant:");
  // Exactly the template's special tokens (3 x <|im_start|>, 2 x <|im_end|>), none from
  // the user's text; parsing the whole text would have made 7.
  int specials = 0, naive = 0;
  for (Token t : s.tokens(0)) specials += models[0]->IsControl(t);
  std::vector<Token> all;
  ASSERT_TRUE(models[0]->Tokenize(s.text(0), false, true, &all).ok());
  for (Token t : all) naive += models[0]->IsControl(t);
  EXPECT_EQ(specials, 5);
  EXPECT_EQ(naive, 7);
  // And generation works on top of it through the public API.
  std::vector<ModelOptions> mo(2);
  mo[0].n_threads = mo[1].n_threads = 1;
  mo[0].path = chat_model;
  mo[1].path = Tiny("gpt-2");
  std::unique_ptr<Ensemble> e;
  ASSERT_TRUE(Ensemble::Open(mo, &e).ok());
  EXPECT_TRUE(e->info(0).has_chat_template);
  req.options.max_new_tokens = 12;
  GenerationResult r;
  ASSERT_TRUE(e->Generate(req, nullptr, &r).ok());
  EXPECT_FALSE(r.text.empty());
}

// Bad input: clear errors, never a crash.
TEST(BadInput, MissingCorruptTruncatedAndVocabOnlyModels) {
  std::unique_ptr<Ensemble> e;
  ModelOptions mo;
  mo.path = "/nonexistent/model.gguf";
  Status st = Ensemble::Open({mo}, &e);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_NE(st.message().find("/nonexistent/model.gguf"), std::string::npos);

  const std::string dir = ::testing::TempDir() + "/coolfusion-bad-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string junk = dir + "/junk.gguf";
  std::ofstream(junk) << "this is not a model";
  mo.path = junk;
  st = Ensemble::Open({mo}, &e);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("not a GGUF"), std::string::npos) << st.message();

  const std::string truncated = dir + "/truncated.gguf";
  {
    std::ifstream in(Shared("stories260K"), std::ios::binary);
    std::string head(4096, '\0');
    in.read(head.data(), head.size());
    std::ofstream(truncated, std::ios::binary) << head;
  }
  mo.path = truncated;
  st = Ensemble::Open({mo}, &e);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.message();

  mo.path = testing::Vocab("gpt-2");
  st = Ensemble::Open({mo}, &e);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("vocab-only"), std::string::npos) << st.message();
}

TEST(BadInput, PromptsAndOptions) {
  auto e = Open({Shared("stories260K"), Shared("aidreams260K")}, 64);
  ASSERT_TRUE(e);
  Request req;
  GenerationResult r;
  req.prompt = std::string(2000, 'a') + " long";
  Status st = e->Generate(req, nullptr, &r);
  // A full context, the model named by its place in the list and its file, no CLI flag
  // (the server shows the same message to a web client).
  EXPECT_EQ(st.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(st.message().find("tokens for model 1 (stories260K), longer than its context of 64 "
                              "tokens"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(st.message().find("-c"), std::string::npos) << st.message();
  EXPECT_EQ(e->Validate(req).code(), Status::Code::kResourceExhausted);

  req.prompt = "bad \xFF utf8";
  st = e->Generate(req, nullptr, &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("UTF-8"), std::string::npos);

  req.prompt = "ok";
  req.options.max_new_tokens = 0;
  st = e->Generate(req, nullptr, &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);

  req.options.max_new_tokens = 5;
  req.prompt = "";
  st = e->Generate(req, nullptr, &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
}

// Hostile inputs: each gets a clear error or a correct result, and none changes what a
// later, ordinary request produces on the same ensemble.
TEST(Hostile, InputsGiveClearErrorsAndDoNotCorruptLaterRequests) {
  auto e = Open({Shared("stories260K"), Shared("aidreams260K")});
  ASSERT_TRUE(e);
  const std::string baseline = Gen(*e, "Once upon a time", "cool", 24).text;
  ASSERT_FALSE(baseline.empty());
  auto check_later = [&](const std::string& what) {
    EXPECT_EQ(Gen(*e, "Once upon a time", "cool", 24).text, baseline) << "after " << what;
  };
  auto run = [&](const std::string& prompt, int n, GenerationResult* r) {
    Request req;
    req.prompt = prompt;
    req.options.max_new_tokens = n;
    return e->Generate(req, nullptr, r);
  };
  GenerationResult r;
  // A 1 MB prompt: longer than every context, refused without decoding.
  const auto t0 = std::chrono::steady_clock::now();
  Status st = run(std::string(1 << 20, 'a'), 8, &r);
  EXPECT_EQ(st.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(st.message().find("longer than its context"), std::string::npos) << st.message();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  check_later("a 1 MB prompt");
  // Zero-length prompt.
  EXPECT_EQ(run("", 8, &r).code(), Status::Code::kInvalidArgument);
  // NUL bytes are valid UTF-8: encoded (byte fallback) and generated from.
  st = run(std::string("Once\0upon\0a time", 17), 8, &r);
  EXPECT_TRUE(st.ok()) << st.message();
  check_later("NUL bytes");
  // Invalid UTF-8 and a lone surrogate encoded in UTF-8 (U+D800).
  EXPECT_EQ(run("bad \xC3\x28 text", 8, &r).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(run("lone \xED\xA0\x80 surrogate", 8, &r).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(run("overlong \xC0\xAF", 8, &r).code(), Status::Code::kInvalidArgument);
  check_later("invalid UTF-8");
  // -n huge: generation ends when the contexts are full, not never.
  st = run("Once upon a time", 1 << 24, &r);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(r.stop_reason, StopReason::kContextFull);
  check_later("-n huge");
}

TEST(Hostile, WildlyDifferentContextSizes) {
  std::vector<ModelOptions> mo(2);
  mo[0].n_threads = mo[1].n_threads = 1;
  mo[0].path = Shared("stories260K");
  mo[0].n_ctx = 24;  // fills after a few segments
  mo[1].path = Shared("aidreams260K");
  mo[1].n_ctx = 2048;
  std::unique_ptr<Ensemble> e;
  ASSERT_TRUE(Ensemble::Open(mo, &e).ok());
  GenerationResult r = Gen(*e, "Once upon a time", "cool", 80);
  EXPECT_EQ(r.stop_reason, StopReason::kMaxTokens);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("model 1 (stories260K)'s context is full"), std::string::npos);
  // A prompt too long for the small context is refused up front with its numbers.
  Request req;
  req.prompt = std::string(200, 'x') + " the end";
  req.options.max_new_tokens = 4;
  Status st = e->Generate(req, nullptr, &r);
  EXPECT_EQ(st.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(st.message().find("context of 24"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace coolfusion

namespace coolfusion {
namespace {

// Issue 24: completion_tokens <= max_tokens, always. A segment may hold several tokens;
// the text is cut where the budget ends (counted with the first active model's
// tokenizer), streamed or not, under every method. 200 requests of random budgets 1-64
// over two and three models.
TEST(Fusion, NewTokensNeverExceedTheBudget) {
  auto two = testing::Open({testing::Shared("stories260K"), testing::Shared("aidreams260K")});
  auto three = testing::Open(
      {testing::Shared("stories260K"), testing::Shared("aidreams260K"), testing::Tiny("gpt-2")});
  ASSERT_TRUE(two && three);
  auto one = testing::Open({testing::Shared("stories260K")});
  ASSERT_TRUE(one);
  const char* const methods[] = {"cool", "cool+r", "unite", "gac", "adafuse", "safe"};
  uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  int cut = 0;
#ifdef COOLFUSION_SANITIZED
  const int n_requests = 36;  // under the sanitizers: every method, a fifth of the requests
#else
  const int n_requests = 200;
#endif
  for (int i = 0; i < n_requests; ++i) {
    Ensemble& e = i % 2 ? *three : *two;
    Request req;
    req.prompt = Prompts()[(size_t)i % Prompts().size()];
    req.options.max_new_tokens = 1 + (int)(next() % 64);
    req.options.method = methods[(size_t)i % 6];
    req.options.scoring.rule = ScoreRule::kMeanPpl;  // every model takes part
    const bool stream = (i / 6) % 2 == 0;
    std::string streamed;
    GenerationResult r;
    Status st = e.Generate(req,
                           stream ? SegmentCallback([&](const Segment&, std::string_view d) {
                             streamed += d;
                             return true;
                           })
                                  : SegmentCallback(),
                           &r);
    ASSERT_TRUE(st.ok()) << st.message();
    const std::string what = std::string(MethodName(req.options.method)) + " -n " +
                             std::to_string(req.options.max_new_tokens);
    EXPECT_LE(r.n_new_tokens, req.options.max_new_tokens) << what;
    if (stream) {
      EXPECT_EQ(streamed, r.text) << what;
    }
    if (r.stop_reason == StopReason::kMaxTokens) {
      EXPECT_EQ(r.n_new_tokens, req.options.max_new_tokens) << what;
      ++cut;
    }
    // The text is what model 0 wrote: its tokens of the prompt + text, less the prompt's,
    // are the count (re-tokenized, a cut word may merge into fewer tokens, never more).
    std::vector<int32_t> all, prompt;
    ASSERT_TRUE(e.Tokenize(0, req.prompt + r.text, &all).ok());
    ASSERT_TRUE(e.Tokenize(0, req.prompt, &prompt).ok());
    EXPECT_LE((int)(all.size() - prompt.size()), req.options.max_new_tokens + 1) << what;
  }
  EXPECT_GT(cut, n_requests / 2);  // most budgets end inside a segment's text
  // -n with a single model: exact as before.
  Request req;
  req.prompt = "Once upon a time";
  req.options.max_new_tokens = 7;
  req.options.method = "single";
  GenerationResult r;
  ASSERT_TRUE(one->Generate(req, nullptr, &r).ok());
  EXPECT_EQ(r.n_new_tokens, 7);
}

}  // namespace
}  // namespace coolfusion
