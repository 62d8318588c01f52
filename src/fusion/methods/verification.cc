#include "fusion/methods/verification.h"

#include "align/token_alignment.h"
#include "fusion/kv_layout.h"

namespace coolfusion {

Status Verify(ModelView& m, int seq, const std::string& more, const std::vector<Token>* tokens,
              Verification* out) {
  LlamaModel& lm = *m.lm;
  *out = Verification();
  Reencoding enc;
  const size_t n = m.tokens.size();
  std::vector<size_t> tail;
  if (tokens != nullptr) {  // the drafter's tokens, after the committed ones
    enc.tokens = m.tokens;
    enc.tokens.insert(enc.tokens.end(), tokens->begin(), tokens->end());
    enc.divergence = n;
    enc.anchor_tokens = n;
    size_t at = m.text.size();
    for (Token t : *tokens) tail.push_back(at += lm.Piece(t).size());
    out->ends_ok = m.ends_ok;
  } else {
    CF_RETURN_IF_ERROR(m.Reencode(m.ReencodeStart(), more, -1, &enc));
    out->ends_ok = m.ends_ok && TokenEnds(lm, enc.suffix, m.text + more, enc.anchor, &tail);
  }
  const std::vector<Token>& toks = enc.tokens;
  const size_t d = enc.divergence;
  if (d >= toks.size()) {  // nothing new: the committed state's logits come next
    out->before.push_back(m.last_logits);
    return Status::Ok();
  }
  auto end_of = [&](size_t i) -> size_t {
    return i < enc.anchor_tokens ? m.ends[i] : tail[i - enc.anchor_tokens];
  };
  const int start = enc.ScoringStart(n);
  lm.SeqRemove(seq, -1, -1);
  lm.SeqCopy(kv::kCommitted, seq, 0, start);
  std::vector<LlamaModel::BatchItem> batch;
  for (size_t i = (size_t)start; i < toks.size(); ++i)
    batch.push_back({toks[i], (int)i, seq, true});
  if (Status st = lm.Decode(batch); !st.ok()) {
    return st.code() == Status::Code::kResourceExhausted
               ? Status::ResourceExhausted("context full while verifying a draft")
               : st;
  }
  m.counters.scoring_calls++;
  const int nv = lm.n_vocab();
  auto row = [&](size_t i) -> const float* {  // the logits after token i
    return (int)i < start ? m.last_logits.data() : lm.Logits((int)(i - (size_t)start));
  };
  for (size_t i = d; i < toks.size(); ++i) {
    if (i == 0) continue;
    out->tokens.push_back(toks[i]);
    const size_t begin = out->ends_ok ? end_of(i - 1) : 0;
    out->starts.push_back((long)begin - (long)m.text.size());
    const float* r = row(i - 1);
    out->before.emplace_back(r, r + nv);
  }
  const float* last = row(toks.size() - 1);
  out->before.emplace_back(last, last + nv);
  return Status::Ok();
}

}  // namespace coolfusion
