#!/usr/bin/env bash
# Mutation check: breaks the code a test guards, one change at a time (a wrong branch, a
# skipped check), rebuilds that test, runs it and says whether it failed, then restores
# the file. Every line should end in FAILED; a PASSED means a test that cannot see the
# break. Not part of CI (a rebuild per mutation: ~15 minutes on 2 cores).
#   scripts/mutation_check.sh [WORD]   (needs build/ from scripts/build.sh; WORD: only the
#                                       mutations whose description contains it)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# mutate FILE OLD NEW TEST_TARGET GTEST_FILTER DESCRIPTION
only=${1:-}
mutate() {
  local file=$1 old=$2 new=$3 target=$4 filter=$5 name=$6
  if [ -n "$only" ] && [[ $name != *"$only"* ]]; then return; fi
  cp "$file" "$tmp"
  if ! python3 - "$file" "$old" "$new" <<'PY'
import sys
p, a, b = sys.argv[1:4]
s = open(p).read()
if a not in s:
    sys.exit("pattern not found in " + p + ": " + a)
open(p, "w").write(s.replace(a, b, 1))
PY
  then
    echo "== $name: SKIPPED (the code changed: update the pattern)"
    return
  fi
  if ! (cd build && make -j "$(nproc)" "$target" >/dev/null 2>&1); then
    echo "== $name: does not build"
  else
    local out
    out=$(cd build && "./tests/$target" --gtest_filter="$filter" 2>&1 | grep -E '^\[  FAILED  \] [A-Za-z]' | sort -u | tr '\n' ' ')
    if [ -n "$out" ]; then echo "== $name: FAILED $out"; else echo "== $name: PASSED (not caught)"; fi
  fi
  cp "$tmp" "$file"
}
mutate src/backend/token_sampler.cc '  if (o.temperature <= 0) {' '  if (true) {' fusion_units_test 'Sampler.*' "sampler ignores temperature (units)"
mutate src/backend/token_sampler.cc '  if (o.temperature <= 0) {' '  if (true) {' fusion_test 'Fusion.SamplingIsSeeded*' "sampler ignores temperature (engine)"
mutate src/backend/token_sampler.cc '  if (penalties_ != nullptr) {  // by token id, in place (the array is in id order)' '  if (false) {' fusion_units_test 'Sampler.*' "grammar/sampling: penalties not applied (units)"
mutate src/backend/token_sampler.cc '  if (penalties_ != nullptr) {  // by token id, in place (the array is in id order)' '  if (false) {' grammar_test 'Sampling.*' "grammar/sampling: penalties not applied (engine)"
mutate src/backend/token_sampler.cc '    if (o.top_k > 0) llama_sampler_chain_add(chain_, llama_sampler_init_top_k(o.top_k));' '' grammar_test 'Sampling.*' "grammar/sampling: top-k ignored"
mutate src/backend/token_sampler.cc '  if (grammar == nullptr) return Pick(work_);' '  if (true) return Pick(work_);' grammar_test 'GrammarFusion.Fused*' "grammar/sampling: drafts ignore the grammar"
mutate src/fusion/constraint.cc '  if (own == nullptr) return committed_->AcceptText(text);' '  if (own == nullptr) return (void)text, true;' grammar_test 'GrammarFusion.Fused*' "grammar/sampling: other writers' text not followed"
mutate src/backend/grammar.cc "    const int rank = p[0] == '\"' ? 0 :" "    const int rank = p[0] == '\"' ? 2 :" grammar_test 'Grammar.*' "grammar/sampling: closing does not prefer a quote"
mutate src/backend/grammar.cc '  if (eos >= 0 && logits[eos] != kMinusInf && Complete()) return eos;' '  (void)eos;' grammar_test 'Grammar.*:GrammarFusion.Two*' "grammar/sampling: closing never ends"
mutate src/fusion/engine.cc '    CF_RETURN_IF_ERROR(Grammar::Create(*impl_->models[0], request.options.grammar, &g));' '' grammar_test 'GrammarFusion.AGrammar*' "grammar/sampling: Validate skips the grammar"
mutate src/server/request.cc '  return GetInt(j, "top_k", 0, 1 << 24, &s->top_k, err) &&' '  return GetInt(j, "top_kk", 0, 1 << 24, &s->top_k, err) &&' openai_test 'OpenAi.*' "grammar/sampling: top_k field ignored"
mutate src/server/request.cc '    {"tools", IsEmpty,' '    {"toolz", IsEmpty,' openai_test 'OpenAi.*' "grammar/sampling: tools not refused"
mutate src/server/request.cc '    out->request.options.grammar = JsonObjectGrammar();' '' openai_test 'OpenAi.*' "grammar/sampling: json_object ignored"
mutate src/fusion/scorer.cc 'for (size_t i = 0; i < n; ++i) sum += NegLogProb(row(i), nv, own->tokens[i]);' 'for (size_t i = 0; i < n; ++i) sum += 1.01 * NegLogProb(row(i), nv, own->tokens[i]);' fusion_test 'Fusion.BatchedScoring*' "own-logits scoring off by 1%"
mutate src/fusion/emitter.cc 'for (const auto& s : opts_.stop) hold = std::max(hold, s.empty() ? 0 : s.size() - 1);' '' fusion_units_test 'Emitter.*' "emitter holds nothing back"
mutate src/fusion/emitter.cc 'const size_t from = seg_start >= stop.size() ? seg_start - stop.size() + 1 : 0;' 'const size_t from = seg_start;' fusion_units_test 'Emitter.*' "stop strings only within a segment"
mutate src/fusion/emitter.cc '  if (cb_ && emitted_ < g.size()) {' '  if (false) {' fusion_units_test 'Emitter.*' "no final flush"
mutate src/fusion/step_aligner.cc '  if (p == 0) return true;  // a fragment start is always a token boundary' '  return true;' fusion_units_test 'StepAligner.*' "straddle check skipped"
mutate src/fusion/lockstep.cc '  if (running_ == 0) {  // nobody serves' '  if (true) {' fusion_units_test 'DecodeGate.*' "gate runs decodes on the caller"
mutate src/fusion/lockstep.cc '  while (Behind(v, k)) cv_.Wait(&mu_);' '' fusion_units_test 'DraftBoard.*' "board does not wait"
mutate src/fusion/method.cc '    const bool eligible = (!any_start_ok || (*cands)[c].start_ok) && grammatical[c];' '    const bool eligible = grammatical[c]; (void)any_start_ok;' fusion_test 'Fusion.ScoringRules*' "winner ignores keeps_start"
mutate src/fusion/method.cc '    if (eligible && (best < 0 || out.score < seg->candidates[best].score ||' '    if (eligible && (best < 0 || out.score > seg->candidates[best].score ||' fusion_test 'Fusion.ScoringRules*' "winner is the highest score"
mutate src/fusion/scoring.cc '    case ScoreRule::kMedianPpl: return std::make_unique<MedianPpl>();' '    case ScoreRule::kMedianPpl: return std::make_unique<MeanPpl>();' scoring_test 'Scoring.RulesPick*' "median built as mean (units)"
mutate src/fusion/scoring.cc '    case ScoreRule::kMedianPpl: return std::make_unique<MedianPpl>();' '    case ScoreRule::kMedianPpl: return std::make_unique<MeanPpl>();' fusion_test 'Fusion.ScoringRules*' "median built as mean (engine)"
mutate src/fusion/engine.cc '  std::unique_ptr<ScoringRule> rule = MakeScoringRule(o.scoring);' '  ScoringOptions mean_only = o.scoring; mean_only.rule = ScoreRule::kMeanPpl; std::unique_ptr<ScoringRule> rule = MakeScoringRule(mean_only);' fusion_test 'Fusion.ScoringRules*' "every rule scored as mean"
mutate src/fusion/model_view.cc '  size_t reuse = std::min(CommonPrefix(cached, prompt), prompt.size() - 1);' '  size_t reuse = std::min(CommonPrefix(cached, prompt) + 3, prompt.size() - 1);' prompt_cache_test '*Pretrained*:*Edited*' "cache reuses 3 tokens too many"
mutate src/fusion/model_view.cc '      reuse = std::min(reuse, i > 0 ? i - 1 : 0);' '      (void)i;' prompt_cache_test '*DefaultScoring*' "counted tokens not re-decoded"
mutate src/align/token_alignment.cc '  if (!IsLetter(before) || tok.Joins(before, mark)) return false;' '  if (tok.Joins(before, mark)) return false;' token_alignment_test 'RealVocabs.*Script*' "anchors: a mark after any character"
mutate src/align/token_alignment.cc '      (U_GET_GC_MASK((UChar32)before) & U_GC_CF_MASK) != 0 || !IsLetter(after)) {' '      (U_GET_GC_MASK((UChar32)before) & U_GC_CF_MASK) != 0 || after == 0) {' token_alignment_test 'RealVocabs.*:ShippedVocabs.*' "anchors: a space before any character"
mutate src/align/token_alignment.cc '  out->erase(out->begin());' '' token_alignment_test 'RealVocabs.*' "anchors: dummy prefix kept at a mark"
mutate src/align/token_alignment.cc '  return !tok.Joins(before, U'"' '"');' '  return (void)tok, true;' token_alignment_test 'Anchors.*' "anchors: pieces across a space ignored"
mutate src/backend/piece_joins.cc '      keys_.push_back((uint64_t)before << 32 | (uint32_t)at);' '      (void)before;' token_alignment_test 'RealVocabs.Joins*:Anchors.*' "anchors: the vocabulary's joins not recorded"
mutate src/align/token_alignment.cc '    } else if (b == kReplacement[0] && !InsideCharacter(text, *pos)) {' '    } else if (false) {' token_alignment_test 'RealVocabs.*Stray*' "anchors: token ends do not follow U+FFFD"
mutate src/align/token_alignment.cc '    if ((c == '"' '"' || c >= 0xC2) && SequenceRunsInto(text, a)) continue;' '    (void)SequenceRunsInto;' token_alignment_test 'RealVocabs.*Stray*' "anchors: an anchor right after a truncated character"
mutate src/fusion/model_view.cc '    if (k <= n_fixed) ends_ok = true;' '' fusion_units_test 'ModelView.*' "anchors: unknown token ends never recover"
mutate src/backend/grammar_limits.cc '  if (bounded && lo > hi)' '  if (false)' grammar_limits_test 'GrammarLimits.*' "limits: a repetition's minimum above its maximum"
mutate src/backend/grammar_limits.cc '  if (lo > kMaxGrammarRepetition || (bounded && hi > kMaxGrammarRepetition))' '  if (lo > kMaxGrammarRepetition)' grammar_limits_test 'GrammarLimits.*' "limits: a repetition's maximum widened"
mutate src/backend/grammar_limits.cc '    CF_RETURN_IF_ERROR(Ordered(schema, path, "minLength", "maxLength", false));' '' grammar_limits_test 'SchemaLimits.*' "limits: minLength above maxLength"
mutate src/backend/grammar_limits.cc '    if (optional > kMaxSchemaOptionalProperties)' '    if (false)' grammar_limits_test 'SchemaLimits.*' "limits: optional properties not counted"
mutate src/backend/grammar_limits.cc '        CF_RETURN_IF_ERROR(Visit(schema[k][i], Join(path, k) + "[" + std::to_string(i) + "]"));' '' grammar_limits_test 'SchemaLimits.*' "limits: anyOf/items arrays not visited"
mutate src/server/http_framing.cc '  if (had_length_ && length_ > limits_.max_body_bytes)' '  if (false)' http_framing_test 'HttpFraming.*' "framing: Content-Length over the limit let through"
mutate src/server/http_framing.cc '        if (had_length_ && v != length_)' '        if (false)' http_framing_test 'HttpFraming.*' "framing: conflicting Content-Lengths accepted"
mutate src/server/http_framing.cc '        if (size > limits_.max_body_bytes - body_.size())' '        if (false)' http_framing_test 'HttpFraming.*' "framing: chunked body not counted"
mutate src/backend/grammar_limits.cc '      patterns_.push_back({where, text});' '' grammar_limits_test 'SchemaLimits.*' "limits: patterns not tried alone"
mutate src/backend/grammar_limits.cc '        last *= std::max<unsigned long long>(n, 1);' '' grammar_limits_test 'SchemaLimits.*' "limits: nested regex repetitions not multiplied"
(cd build && make -j "$(nproc)" >/dev/null 2>&1)  # back to the real code

# The peer methods (issue 23)
mutate src/fusion/methods/token_level.cc 'if (!agree || !allowed(entry))' 'if (true)' peer_methods_test 'PeerMethods.ModelWithItself*' "peer: agreement is fused anyway"
mutate src/fusion/methods/safe.cc 'return !(total > 0 && mean / total > 0.5);' 'return total > 0 && mean / total > 0.5;' peer_methods_test 'PeerMethods.ModelsThatDisagree*' "peer: safe fuses where the models are sure"
mutate src/fusion/methods/safe.cc 'if (i == ver.starts.size() || ver.starts[i] != (long)off) return false;' 'if (i == ver.starts.size()) return false;' peer_methods_test 'PeerMethods.*' "peer: safe ignores boundary agreement"
mutate src/fusion/methods/gac.cc 'if (p >= gate_ && allowed(pos.top[l])) {' 'if (p < gate_ && allowed(pos.top[l])) {' peer_methods_test 'PeerMethods.ModelsThatDisagree*' "peer: gac gate inverted"
mutate src/align/vocab_union.cc 'auto it = index_.find(piece);' 'auto it = index_.end();' vocab_union_test '*' "peer: union does not merge equal bytes"
mutate src/fusion/methods/token_level.cc 'const Token t = vocab.TokenOf((int)v, entry, pos.probs[v].data());' 'const Token t = vocab.TokenOf((int)v, entry);' peer_methods_test 'PeerMethods.ModelWithItself*' "peer: commit takes the lowest id of a duplicated string"
mutate src/fusion/prompt_weights.cc 't = temp * std::max(1.0, evidence / (double)seen);' 't = temp;' prompt_weights_test 'PromptWeights.*' "evidence: short prompts move full weight"
mutate src/fusion/emitter.cc '    if (end != std::string::npos && end < g.size() && end < cut) {' '    if (false) {' fusion_test 'Fusion.NewTokensNeverExceedTheBudget' "budget: the last segment is not cut"
mutate tools/coolfusion/eval.cc 'const bool ran_before = found != resumed.rows.end();' 'const bool ran_before = false && found != resumed.rows.end();' eval_resume_test 'EvalResume.*' "resume: finished rows run again"
mutate tools/coolfusion/eval_samples.cc 'if (!resume && ::ftruncate(fd, 0) != 0)' 'if (::ftruncate(fd, 0) != 0)' eval_resume_test 'EvalResume.*' "resume: the file is emptied and every row runs again"
mutate tools/coolfusion/eval_samples.cc '{"-n", g.max_new_tokens},' '' eval_resume_test 'EvalResume.*' "resume: the settings leave out -n"
mutate tools/coolfusion/eval_samples.cc '*out = {{"file", path}, {"bytes", size}, {"content", h.Hex()}};' '*out = {{"file", path}};' eval_resume_test 'EvalResume.*' "resume: the settings leave out what the files hold"
mutate tools/coolfusion/eval_samples.cc 'if (resumed->torn_bytes && ::ftruncate(fd_, (off_t)at) != 0)' 'if (false)' eval_resume_test 'EvalResume.*' "resume: a torn last line is kept"
mutate tools/coolfusion/eval_samples.cc 'if (j.is_discarded() || !ReadSampleRow(j, &key, &r, &why))' 'if (false)' eval_resume_test 'EvalResume.*' "resume: a line that is no row is not refused"
mutate tools/coolfusion/eval_samples.cc 'if (r.error.empty()) resumed->rows[key] = std::move(r);' 'resumed->rows[key] = std::move(r);' eval_resume_test 'EvalResume.*' "resume: a failed row is not run again"
mutate tools/coolfusion/eval_samples.cc 'r->decode_calls = c.at("decode_calls").get<int64_t>();' 'r->decode_calls = 0;' eval_resume_test 'EvalResume.*' "resume: a resumed row loses its counters"
mutate tools/coolfusion/eval_samples.cc 'r->seconds = j.at("seconds").get<double>();' 'r->seconds = 0;' eval_resume_test 'EvalResume.*' "resume: a resumed row loses its seconds"
mutate tools/coolfusion/eval_samples.cc 'if (output != r.output) {' 'if (false) {' eval_resume_test 'EvalResume.*' "resume: output that is not UTF-8 comes back changed"
mutate tools/coolfusion/eval_samples.cc "for (const std::string& m : models) k += '\n' + m;" '(void)models;' eval_resume_test 'EvalResume.*' "resume: two single runs of same-named models share rows"
mutate tools/coolfusion/eval_samples.cc 'if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {' 'if (false) {' eval_resume_test 'EvalResume.*' "resume: two evals write one file"
