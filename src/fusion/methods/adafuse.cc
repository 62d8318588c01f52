// AdaFuse (arXiv 2601.06022; code CCM0111/AdaFuse): fusion by words, adaptive. At every
// step each model proposes from the shared text:
//   - its greedy span: one word when it is unsure of the word's first token (top-1 minus
//     top-2 probability below PeerOptions::adafuse_margin, 0.7 as the code's default);
//     when sure, two words, or three when it is sure of the second word's first token
//     too (adafuse_words caps it; 3 as in the code);
//   - when unsure, also adafuse_beams - 1 more words, each started with its next most
//     likely first token and finished greedily ("diversity-aware scaling"; B = 3, the
//     value the released code's counters assume, its default being 1).
// A word is a run of non-space characters (punctuation stays with it), as the code splits
// text; a span ends at a token boundary of its writer at or after its last word's end.
// Every model scores every distinct span by its mean NLL per token of its own
// tokenization, the models' scores are averaged with the request's weights (prompt
// weights under `auto`), and the lowest wins and is appended for every model.
// Deviations: spans are appended as written (the code re-joins words with one space);
// where every model's greedy span is the same, it is taken without scoring (the code
// scores it against the others' extra words: with one model twice, AdaFuse would not be
// that model's greedy text); grammars are refused (branches start with tokens a grammar
// may not allow). Candidates are scored in rounds of one per writer (each writer's k-th
// word), the scoring sequences being one per writer (kv_layout.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "fusion/logits.h"
#include "fusion/method.h"
#include "fusion/methods/registry.h"

namespace coolfusion {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// The offset where word `k` (1-based) of `text` ends, when a space follows it; npos
// while it is not known to have ended.
size_t WordEnd(const std::string& text, int k) {
  int words = 0;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i == text.size()) break;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    if (++words == k) return i < text.size() ? i : std::string::npos;
  }
  return std::string::npos;
}

// The first token boundary at or after offset `off`.
size_t CutAt(const Draft& d, size_t off) {
  for (size_t k = 0; k < d.tokens.size(); ++k) {
    if (d.ends[k] >= off) return k + 1;
  }
  return d.tokens.size();
}

// Top-1 minus top-2 probability of the text or end tokens (control tokens excluded).
double Margin(const LlamaModel& lm, const float* logits, std::vector<Token>* top) {
  const int n = lm.n_vocab();
  const double lse = LogSumExp(logits, n);
  const std::vector<uint8_t>& skip = lm.suppressed();
  Token a = -1, b = -1;
  for (int t = 0; t < n; ++t) {
    if (skip[(size_t)t]) continue;
    if (a < 0 || logits[t] > logits[a]) {
      b = a;
      a = t;
    } else if (b < 0 || logits[t] > logits[b]) {
      b = t;
    }
  }
  if (top != nullptr) *top = {a, b};
  if (a < 0) return 1;
  const double pa = std::exp((double)logits[a] - lse);
  const double pb = b < 0 ? 0 : std::exp((double)logits[b] - lse);
  return pa - pb;
}

// The k most likely first tokens after the committed text that are not control or end
// tokens, the most likely first.
std::vector<Token> TopFirstTokens(const LlamaModel& lm, const std::vector<float>& logits, int k) {
  std::vector<Token> all;
  const std::vector<uint8_t>& skip = lm.suppressed();
  for (int t = 0; t < lm.n_vocab(); ++t) {
    if (!skip[(size_t)t] && !lm.IsEog(t)) all.push_back(t);
  }
  const size_t m = std::min(all.size(), (size_t)k);
  std::partial_sort(all.begin(), all.begin() + (long)m, all.end(),
                    [&](Token a, Token b) { return logits[(size_t)a] > logits[(size_t)b]; });
  all.resize(m);
  return all;
}

// One model's proposals: drafts[0] its greedy span, then its extra words.
struct Proposals {
  std::vector<Draft> drafts;
  bool context_full = false;
};

class AdaFuseMethod final : public FusionMethod {
 public:
  Status Run(MethodContext& ctx, GenerationResult* out) override {
    Session& s = *ctx.session;
    const GenerateOptions& o = *ctx.opts;
    const size_t n = s.n_models();
    std::vector<Proposals> props(n);
    StepLoop steps(ctx, out);
    while (steps.Next()) {
      for (auto& p : props) p = Proposals();
      CF_RETURN_IF_ERROR(s.ForEachActive([&](int v) { return Propose(s, o, v, &props[v]); }));
      // A model whose context is full leaves while others can go on.
      if (steps.RetireFull([&](int v) { return props[(size_t)v].context_full; })) break;
      // The distinct spans, each with its writers and the drafts that wrote it.
      struct Span {
        StepCandidate cand;
        int round = 0;
        double score = std::numeric_limits<double>::infinity();
        std::vector<double> ppl;
      };
      std::vector<Span> spans;
      int rounds = 0;
      for (size_t v = 0; v < n; ++v) {
        if (!s.active((int)v)) continue;
        rounds = std::max(rounds, (int)props[v].drafts.size());
      }
      for (int r = 0; r < rounds; ++r) {
        for (size_t v = 0; v < n; ++v) {
          if (!s.active((int)v) || (size_t)r >= props[v].drafts.size()) continue;
          const Draft& d = props[v].drafts[(size_t)r];
          const std::string text = d.Candidate();
          auto it = std::find_if(spans.begin(), spans.end(), [&](const Span& sp) {
            return sp.cand.text == text && sp.cand.eog == d.cut_eog;
          });
          if (it != spans.end()) {
            it->cand.writers.push_back((int)v);
            continue;
          }
          Span sp;
          sp.cand = StepCandidate{text, d.cut_eog, {(int)v}, true};
          sp.round = r;
          spans.push_back(std::move(sp));
        }
      }
      if (spans.empty()) {
        steps.Stop(StopReason::kContextFull);
        break;
      }
      // Every model's greedy span is the same: nothing to choose.
      int win = 0;
      const bool agree = spans[0].cand.writers.size() == (size_t)s.n_active();
      s.counters().positions++;
      if (!agree) {
        s.counters().fused_positions++;
        CF_RETURN_IF_ERROR(ScoreSpans(s, ctx, props, &spans));
        for (size_t c = 1; c < spans.size(); ++c) {
          if (spans[c].score < spans[(size_t)win].score) win = (int)c;
        }
      }
      // Commit: each writer of the winner keeps its own tokens of it.
      const StepCandidate& cand = spans[(size_t)win].cand;
      std::vector<const Draft*> dp(n, nullptr);
      for (int v : cand.writers) {
        for (const Draft& d : props[(size_t)v].drafts) {
          if (d.Wrote(cand.text, cand.eog)) {
            dp[(size_t)v] = &d;
            break;
          }
        }
      }
      CF_RETURN_IF_ERROR(s.Commit({cand}, 0, dp));
      Segment seg;
      seg.text = cand.text;
      seg.winner = cand.writers.front();
      seg.winning_candidate = win;
      for (const Span& sp : spans) {
        Candidate c;
        c.text = sp.cand.text;
        c.ends_generation = sp.cand.eog;
        c.writers = sp.cand.writers;
        c.ppl = sp.ppl;
        c.score = sp.score;
        seg.candidates.push_back(std::move(c));
      }
      const bool empty = cand.text.empty();
      if (steps.End(std::move(seg), cand.eog)) break;
      if (empty) {
        steps.Stop(StopReason::kContextFull);
        break;
      }
    }
    return Status::Ok();
  }

 private:
  // Model v's greedy span and, when it is unsure, its extra words. Touches only model v.
  static Status Propose(Session& s, const GenerateOptions& o, int v, Proposals* p) {
    const LlamaModel& lm = s.model(v);
    const PeerOptions& po = o.peer;
    const std::vector<float>& first = s.last_logits(v);
    std::vector<Token> top;
    const bool sure = Margin(lm, first.data(), &top) >= po.adafuse_margin;
    int want = 1;          // words in the greedy span
    bool decided = !sure;  // whether want is final
    if (sure) want = std::min(2, po.adafuse_words);
    if (want == 1) decided = true;
    auto greedy_done = [&](Draft& d) {
      if (!decided) {
        const size_t end1 = WordEnd(d.text, 1);
        if (end1 == std::string::npos) return false;
        // Word 2's first token: the token that holds the space after word 1.
        const size_t k = CutAt(d, end1 + 1) - 1;
        decided = true;
        if (k >= 1 && k - 1 < d.after.size() &&
            Margin(lm, d.after[k - 1].data(), nullptr) >= po.adafuse_margin)
          want = std::min(3, po.adafuse_words);
      }
      const size_t end = WordEnd(d.text, want);
      if (end == std::string::npos) return false;
      d.cut_tokens = CutAt(d, end);
      return true;
    };
    const int budget = o.max_segment_tokens;
    Draft g;
    CF_RETURN_IF_ERROR(s.MakeDraft(v, budget, greedy_done, &g));
    Finish(&g);
    p->context_full = g.context_full;
    p->drafts.push_back(std::move(g));
    if (sure || po.adafuse_beams <= 1 || p->context_full) return Status::Ok();
    const std::vector<Token> firsts = TopFirstTokens(lm, first, po.adafuse_beams);
    for (size_t b = 1; b < firsts.size(); ++b) {
      auto one_word = [&](Draft& d) {
        const size_t end = WordEnd(d.text, 1);
        if (end == std::string::npos) return false;
        d.cut_tokens = CutAt(d, end);
        return true;
      };
      Draft w;
      CF_RETURN_IF_ERROR(s.MakeDraft(v, budget, one_word, &w, nullptr, firsts[b]));
      Finish(&w);
      if (w.context_full) break;
      // Only the last draft's tokens are in the KV cache.
      p->drafts.back().n_decoded = 0;
      p->drafts.push_back(std::move(w));
    }
    return Status::Ok();
  }

  // A draft that stopped without a word end: its whole text, ending the generation when
  // the model ended it.
  static void Finish(Draft* d) {
    if (d->cut_tokens > 0) return;
    d->cut_tokens = d->tokens.size();
    d->cut_eog = d->eog;
  }

  // Scores every span under every active model, in rounds of one span per writer, and
  // sets each span's score: the weighted mean over the models of its mean NLL per token.
  template <class Span>
  static Status ScoreSpans(Session& s, MethodContext& ctx, const std::vector<Proposals>& props,
                           std::vector<Span>* spans) {
    const size_t n = s.n_models();
    int rounds = 0;
    for (const Span& sp : *spans) rounds = std::max(rounds, sp.round + 1);
    for (int r = 0; r < rounds; ++r) {
      std::vector<StepCandidate> cands;
      std::vector<size_t> which;
      std::vector<const Draft*> dp(n, nullptr);
      for (size_t c = 0; c < spans->size(); ++c) {
        const Span& sp = (*spans)[c];
        if (sp.round != r) continue;
        StepCandidate cand = sp.cand;
        // One scoring sequence per writer: a span written by a model whose sequence this
        // round already uses is decoded by that model like the others'.
        cand.writers.clear();
        for (int u : sp.cand.writers) {
          if (dp[(size_t)u] != nullptr) continue;
          for (const Draft& d : props[(size_t)u].drafts) {
            if (d.Wrote(sp.cand.text, sp.cand.eog)) {
              dp[(size_t)u] = &d;
              cand.writers.push_back(u);
              break;
            }
          }
        }
        cands.push_back(std::move(cand));
        which.push_back(c);
      }
      // A single span written by every model would not be scored at all (Session::Score).
      if (cands.size() == 1 && cands[0].writers.size() == (size_t)s.n_active()) {
        dp[(size_t)cands[0].writers.back()] = nullptr;
        cands[0].writers.pop_back();
      }
      std::vector<std::vector<double>> ppl;
      CF_RETURN_IF_ERROR(s.Score(cands, dp, &ppl, Session::Sequences::kDrop));
      for (size_t i = 0; i < which.size(); ++i) {
        Span& sp = (*spans)[which[i]];
        sp.ppl = ppl[i];
        double sum = 0, w = 0;
        for (size_t v = 0; v < n; ++v) {
          const double wv = s.active((int)v) ? (*ctx.weights)[v] : 0;
          if (wv <= 0 || !std::isfinite(ppl[i][v])) continue;
          sum += wv * std::log(ppl[i][v]);
          w += wv;
        }
        if (w > 0) sp.score = sum / w;
      }
    }
    return Status::Ok();
  }
};

}  // namespace

extern const MethodSpec kAdaFuseMethod{
    .name = "adafuse",
    .make = [] { return std::unique_ptr<FusionMethod>(new AdaFuseMethod); },
    .no_grammar = "its extra words start with tokens the grammar may not allow",
};

}  // namespace coolfusion
