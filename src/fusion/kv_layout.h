// The KV sequences of every model's context during a fusion step, by name. One layout
// for the session, the scorer and the engine that sizes the contexts. With n models:
//   0      kCommitted: the committed tokens, then (during a step) the model's own draft;
//   1 + u  WriterSeq(u): the scoring copy for the candidate model u wrote, and the tokens
//          of u's draft pre-scored into it; shares sequence 0's prefix cells;
//   n + 1  ExtraSeq(n): the scoring copy for a candidate no single model wrote (cool+r's
//          fused answer).
// Scoring copies are dropped when a step commits.
#pragma once

namespace coolfusion::kv {

constexpr int kCommitted = 0;
constexpr int WriterSeq(int writer) { return 1 + writer; }
constexpr int ExtraSeq(int n_models) { return n_models + 1; }
// Sequences a context needs (LlamaModel::Load's n_seq_max).
constexpr int SeqCount(int n_models) { return n_models + 2; }
// Scoring copies that may hold a whole text beside sequence 0 (sizes the KV cache):
// none for one model, else one per writer plus the extra one.
constexpr int ScoringTexts(int n_models) { return n_models > 1 ? n_models + 1 : 0; }
// The first and one past the last scoring sequence.
constexpr int kFirstScoring = 1;
constexpr int ScoringEnd(int n_models) { return n_models + 2; }

}  // namespace coolfusion::kv
