// The public Ensemble: loads models and runs one fusion method per request.
#include <coolfusion/engine.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <new>
#include <thread>

#include "align/token_alignment.h"
#include "backend/decode_scheduler.h"
#include "backend/grammar.h"
#include "backend/grammar_sandbox.h"
#include "backend/llama_model.h"
#include "base/utf8.h"
#include "fusion/ensemble_impl.h"
#include "fusion/kv_layout.h"
#include "fusion/method.h"
#include "fusion/methods/registry.h"
#include "fusion/options.h"
#include "fusion/prepared_prompt.h"
#include "fusion/prompt.h"
#include "fusion/prompt_weights.h"
#include "fusion/request_run.h"
#include "fusion/scoring.h"
#include "fusion/session.h"

namespace coolfusion {

namespace {
// The method a request runs (null: an unknown name, which CheckOptions refuses): a model
// alone (one named, or an ensemble of one) runs the single-model method, whatever the
// request names: every method's text is that model's own then, and the fused methods would
// draft past each word's end and take it back.
const MethodSpec* RequestMethod(const GenerateOptions& o, size_t models) {
  if (FindMethod(o.method) == nullptr) return nullptr;
  return FindMethod(o.only_model >= 0 || models == 1 ? SingleModelMethod() : o.method);
}
// Why token healing cannot apply to the request (null: it can).
const char* HealingObstacle(const MethodSpec& spec, const Request& r) {
  if (!r.messages.empty()) return "chat messages (a chat template ends where its model answers)";
  if (!r.options.grammar.empty()) return "a grammar";
  if (!spec.token_healing) return "this method (it reads the models' tokens itself)";
  return nullptr;
}
// --token-healing on where it cannot apply is refused (the default heals where it can).
Status CheckHealing(const Request& request, size_t models) {
  if (request.options.token_healing != Switch::kOn) return Status::Ok();
  const MethodSpec* spec = RequestMethod(request.options, models);
  if (const char* why = spec ? HealingObstacle(*spec, request) : nullptr) {
    return Status::InvalidArgument(
        std::string("token healing (--token-healing on, coolfusion.token_healing) does not "
                    "apply to ") +
        why);
  }
  return Status::Ok();
}
}  // namespace

Status CheckGenerateOptions(const GenerateOptions& options, size_t models) {
  CF_RETURN_IF_ERROR(CheckOptions(options, models));
  Request raw;  // what the options allow for a raw prompt
  raw.options = options;
  return CheckHealing(raw, models);
}

Ensemble::Ensemble(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ensemble::~Ensemble() = default;

Status Ensemble::Open(const std::vector<ModelOptions>& models, std::unique_ptr<Ensemble>* out) {
  std::vector<std::unique_ptr<Ensemble>> lanes;
  CF_RETURN_IF_ERROR(
      Guarded("loading the models", [&] { return OpenUnguarded(models, 1, &lanes); }));
  *out = std::move(lanes[0]);
  return Status::Ok();
}

Status Ensemble::OpenLanes(const std::vector<ModelOptions>& models, int lanes,
                           std::vector<std::unique_ptr<Ensemble>>* out) {
  return Guarded("loading the models", [&] { return OpenUnguarded(models, lanes, out); });
}

Status Ensemble::OpenUnguarded(const std::vector<ModelOptions>& models, int lanes,
                               std::vector<std::unique_ptr<Ensemble>>* out) {
  if (models.empty()) return Status::InvalidArgument("no model given (use -m FILE)");
  if (models.size() > 64) return Status::InvalidArgument("at most 64 models can be fused");
  if (lanes < 1 || lanes > 256) return Status::InvalidArgument("lanes out of range (1..256)");
  std::vector<std::unique_ptr<Impl>> impls;
  for (int k = 0; k < lanes; ++k) impls.push_back(std::make_unique<Impl>());
  const int n = (int)models.size();
  // One scheduler for the set: its thread runs every model's batched decodes.
  auto scheduler = lanes > 1 ? std::make_shared<DecodeScheduler>(lanes) : nullptr;
  for (int i = 0; i < n; ++i) {
    const ModelOptions& mo = models[i];
    if (!(mo.weight >= 0) || !std::isfinite(mo.weight))
      return Status::InvalidArgument("the weight of " + mo.path + " must be a finite number >= 0");
    if (mo.n_ctx < 0 || mo.n_ctx > (1 << 20))
      return Status::InvalidArgument("context size out of range (0..1048576)");
    std::unique_ptr<LlamaModel> m;
    // Scoring sequences: one per writer and the extra one (cool+r's fused answer).
    CF_RETURN_IF_ERROR(LlamaModel::Load(mo, kv::SeqCount(n), kv::ScoringTexts(n), &m,
                                        mo.vocab_only ? 1 : lanes, scheduler));
    ModelInfo info;
    m->SetLabel("model " + std::to_string(i + 1) + " (" +
                std::filesystem::path(mo.path).stem().string() + ")");
    info.path = mo.path;
    info.name = std::filesystem::path(mo.path).filename().string();
    info.label = m->label();
    info.n_gpu_layers = mo.n_gpu_layers;
    info.gpu_layers_on_cpu = m->gpu_layers_on_cpu();
    info.tokenizer = m->tokenizer_name();
    info.n_vocab = m->n_vocab();
    info.n_params = m->n_params();
    info.n_ctx = m->n_ctx();
    info.n_ctx_train = m->vocab_only() ? 0 : m->n_ctx_train();
    info.vocab_only = m->vocab_only();
    info.has_chat_template = !m->chat_template().empty();
    info.opens_thinking = m->opens_thinking();
    info.bos = m->bos();
    info.eos = m->eos();
    const std::string key = ModelKey(mo.path, *m);
    for (int k = 0; k < lanes; ++k) {
      std::unique_ptr<LlamaModel> lane;
      if (k == 0) {
        lane = std::move(m);
      } else if (impls[0]->models.back()->lanes() > 1) {
        CF_RETURN_IF_ERROR(impls[0]->models.back()->NewLane(k, &lane));
      } else {
        // A vocab-only model has no context to share: each lane loads its own.
        CF_RETURN_IF_ERROR(LlamaModel::Load(mo, kv::SeqCount(n), kv::ScoringTexts(n), &lane));
        lane->SetLabel(info.label);
      }
      impls[k]->infos.push_back(info);
      impls[k]->weights.push_back(mo.weight);
      impls[k]->keys.push_back(key);
      impls[k]->models.push_back(std::move(lane));
    }
  }
  out->clear();
  for (auto& impl : impls) out->emplace_back(new Ensemble(std::move(impl)));
  return Status::Ok();
}

namespace {
Ensemble::BatchingStats Public(const BatchingTotals& t) {
  Ensemble::BatchingStats b;
  b.decodes = t.decodes;
  b.lane_jobs = t.lane_jobs;
  b.tokens = t.tokens;
  b.max_lanes = t.max_lanes;
  b.wait_ms = t.wait_ms;
  return b;
}
}  // namespace

Ensemble::BatchingStats Ensemble::lane_batching() const {
  BatchingTotals sum;
  for (const auto& m : impl_->models) {
    const BatchingTotals t = m->lane_totals();
    sum.decodes += t.decodes;
    sum.lane_jobs += t.lane_jobs;
    sum.tokens += t.tokens;
    sum.max_lanes = std::max(sum.max_lanes, t.max_lanes);
    sum.wait_ms += t.wait_ms;
  }
  return Public(sum);
}

Ensemble::BatchingStats Ensemble::batching(size_t i) const {
  return Public(impl_->models[i]->batching());
}

size_t Ensemble::size() const { return impl_->models.size(); }
const ModelInfo& Ensemble::info(size_t i) const { return impl_->infos[i]; }

std::vector<std::string> Ensemble::LoadWarnings() const {
  std::vector<std::string> out;
  for (const auto& m : impl_->models) {
    if (!m->chat_template_warning().empty())
      out.push_back(m->label() + ": " + m->chat_template_warning());
  }
  for (const ModelInfo& m : impl_->infos) {
    if (!m.gpu_layers_on_cpu) continue;
    // One line for the whole ensemble: the build, not the model, lacks the GPU.
    out.push_back("-ngl " + std::to_string(m.n_gpu_layers) +
                  ": this build has no GPU backend; the layers stay on the CPU (a CUDA "
                  "build: scripts/build.sh -DGGML_CUDA=ON)");
    break;
  }
  return out;
}

Status Ensemble::CheckRequest(const Request& request) const {
  CF_RETURN_IF_ERROR(CheckOptions(request.options, size()));
  for (size_t i = 0; i < size(); ++i) {
    if (request.options.only_model >= 0 && (int)i != request.options.only_model) continue;
    if (impl_->infos[i].vocab_only)
      return Status::InvalidArgument(impl_->infos[i].path +
                                     " was loaded vocab-only and cannot generate");
  }
  CF_RETURN_IF_ERROR(CheckRequestText(request));
  CF_RETURN_IF_ERROR(CheckHealing(request, size()));
  if (!request.options.grammar.empty()) {  // parsed once here, for the error before a stream
    std::unique_ptr<Grammar> g;
    CF_RETURN_IF_ERROR(Grammar::Create(*impl_->models[0], request.options.grammar, &g));
  }
  return Status::Ok();
}

Status JsonSchemaToGrammar(const std::string& schema_json, std::string* gbnf) {
  return Guarded("converting the JSON schema",
                 [&] { return ConvertJsonSchema(schema_json, gbnf); });
}

Status JsonSchemaToGrammarIsolated(const std::string& schema_json, std::string* gbnf) {
  return Guarded("converting the JSON schema",
                 [&] { return SandboxedJsonSchemaToGrammar(schema_json, gbnf); });
}

Status CheckGrammarIsolated(const std::string& gbnf) {
  return Guarded("checking the grammar", [&] { return SandboxedCheckGrammar(gbnf); });
}

const std::string& JsonObjectGrammar() { return JsonObjectGbnf(); }

Status Ensemble::Validate(const Request& request,
                          std::shared_ptr<const PreparedPrompt>* prepared) const {
  return Guarded("validating the request", [&] { return ValidateUnguarded(request, prepared); });
}

Status Ensemble::ValidateUnguarded(const Request& request,
                                   std::shared_ptr<const PreparedPrompt>* prepared) const {
  CF_RETURN_IF_ERROR(CheckRequest(request));
  std::vector<std::unique_ptr<RenderedPrompt>> rendered(size());
  size_t encodable = 0;
  Status first;
  for (size_t i = 0; i < size(); ++i) {
    if (request.options.only_model >= 0 && (int)i != request.options.only_model) continue;
    const LlamaModel& m = *impl_->models[i];
    // A text too long for the context whatever its tokenization is refused before
    // tokenizing it (a megabyte of CJK took 17 s to tokenize only to be refused).
    size_t bytes = request.prompt.size();
    for (const ChatMessage& msg : request.messages) bytes += msg.content.size();
    if (bytes > (size_t)m.n_ctx() * m.max_piece_bytes())
      return Status::ResourceExhausted(
          "the prompt is " + std::to_string(bytes) + " bytes, more than " + m.label() +
          "'s context of " + std::to_string(m.n_ctx()) + " tokens can hold (its longest token is " +
          std::to_string(m.max_piece_bytes()) + " bytes)");
    rendered[i] = std::make_unique<RenderedPrompt>(RenderPrompt(m, request));
    const Status& st = rendered[i]->status;
    if (st.code() == Status::Code::kInvalidArgument) {
      if (first.ok()) first = st;
      continue;
    }
    CF_RETURN_IF_ERROR(st);
    CF_RETURN_IF_ERROR(CheckPromptFits(rendered[i]->tokens, m));
    ++encodable;
  }
  if (encodable == 0)
    return Status::InvalidArgument("no model can encode the prompt: " + first.message());
  if (prepared != nullptr)
    *prepared = std::make_shared<const PreparedPrompt>(request, impl_->keys, std::move(rendered));
  return Status::Ok();
}

size_t Ensemble::CachedPrefix(const Request& request) const {
  if (!request.options.cache_prompt) return 0;
  const size_t i = request.options.only_model >= 0 ? (size_t)request.options.only_model : 0;
  if (i >= size() || i >= impl_->kv_cache.size() || impl_->kv_cache[i].tokens.empty()) return 0;
  const RenderedPrompt* given =
      request.prepared ? request.prepared->For(request, impl_->keys, i) : nullptr;
  const RenderedPrompt r =
      given != nullptr ? RenderedPrompt() : RenderPrompt(*impl_->models[i], request);
  const RenderedPrompt& p = given != nullptr ? *given : r;
  if (!p.status.ok()) return 0;
  return CommonPrefix(impl_->kv_cache[i].tokens, p.tokens.tokens);
}

Status Ensemble::Generate(const Request& request, const SegmentCallback& on_segment,
                          GenerationResult* out) {
  return Guarded("generating", [&] { return GenerateUnguarded(request, on_segment, out); });
}

Status Ensemble::GenerateUnguarded(const Request& request, const SegmentCallback& on_segment,
                                   GenerationResult* out) {
  *out = GenerationResult();
  if (request.options.max_new_tokens == kNoTokenLimit) {
    // No limit: the largest budget, which no context reaches; the models' end of text or
    // a full context stops the generation.
    Request unlimited = request;
    unlimited.options.max_new_tokens = kMaxNewTokens;
    return GenerateUnguarded(unlimited, on_segment, out);
  }
  const GenerateOptions& o = request.options;
  CF_RETURN_IF_ERROR(CheckRequest(request));
  const auto t0 = std::chrono::steady_clock::now();
  const MethodSpec& spec = *RequestMethod(o, size());
  RequestRun run(*impl_, request, o, spec.one_model);
  const bool heal = o.token_healing != Switch::kOff && HealingObstacle(spec, request) == nullptr;
  if (Status st = run.Start(&out->warnings, &out->models, &out->timings, heal); !st.ok()) {
    // Cancelled while building a grammar's start state: stopped, as between steps.
    if (st.code() != Status::Code::kCancelled) return st;
    out->stop_reason = StopReason::kCancelled;
    return Status::Ok();
  }
  Session& session = run.session();
  std::unique_ptr<FusionMethod> method = spec.make();
  std::unique_ptr<ScoringRule> rule = MakeScoringRule(o.scoring);
  Emitter emitter(o, on_segment, [&] { return session.BudgetEnd(o.max_new_tokens); });
  MethodContext ctx{&session, &o, rule.get(), &run.weights(), &emitter};
  if (spec.vocab_union) ctx.vocab = &impl_->Union();
  ctx.gate = GateOf(spec, o);
  Status st = method->Run(ctx, out);
  // A grammar past its budget (grammar.h) ends the generation with its error, whatever
  // the method made of the grammars that then allowed nothing; a cancellation noticed
  // inside a grammar call ends it as the segment callback's false does.
  if (const GrammarBudget* b = session.grammar_budget(); b != nullptr && b->failed()) {
    if (b->error().code() != Status::Code::kCancelled) return b->error();
    st = Status::Ok();
    out->stop_reason = StopReason::kCancelled;
  }
  if (!st.ok() && st.code() != Status::Code::kResourceExhausted) return st;
  if (!st.ok()) {
    out->warnings.push_back(st.message());
    out->stop_reason = StopReason::kContextFull;
  }
  emitter.Finish(session.generated(), out);
  out->text = session.generated();
  out->n_new_tokens = session.NewTokens();
  if (emitter.cut_at_budget()) out->n_new_tokens = o.max_new_tokens;
  out->n_prompt_tokens = session.NumPromptTokens();
  if (session.first_active() >= 0)
    out->n_cached_tokens = (int)session.cached_tokens(session.first_active());
  run.Finish(&out->counters, &out->timings);
  out->timings.total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return Status::Ok();
}

Status Ensemble::CommonBoundaries(std::string_view text, std::vector<size_t>* out) const {
  std::vector<const Tokenizer*> toks;
  for (const auto& m : impl_->models) toks.push_back(m.get());
  return CommonWordBoundaries(toks, text, out);
}

Status Ensemble::Tokenize(size_t i, std::string_view text, std::vector<int32_t>* out) const {
  if (i >= size()) return Status::InvalidArgument("no such model");
  return impl_->models[i]->Tokenize(text, false, false, out);
}

Status Ensemble::Detokenize(size_t i, const std::vector<int32_t>& tokens, std::string* out) const {
  if (i >= size()) return Status::InvalidArgument("no such model");
  size_t dropped = 0;
  return SpelledText(*impl_->models[i], tokens, out, &dropped);
}

Status Ensemble::VocabPieces(size_t i, std::vector<std::string>* out) const {
  if (i >= size()) return Status::InvalidArgument("no such model");
  const LlamaModel& m = *impl_->models[i];
  out->clear();
  for (Token t = 0; t < m.n_vocab(); ++t) out->emplace_back(m.Piece(t));
  return Status::Ok();
}

}  // namespace coolfusion
