#include "backend/llama_model.h"

#include <gguf.h>
#include <llama-cpp.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "backend/decode_scheduler.h"
#include "backend/jinja_template.h"
#include "backend/log.h"
#include "backend/rpc.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

std::once_flag g_backend_once;

// Whether ggml has a GPU device registered (CUDA, Metal, Vulkan, ...): what -ngl offloads
// to. RPC workers are not counted: they are named per model (rpc=), never by -ngl alone.
bool HasGpuDevice() {
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    const enum ggml_backend_dev_type type = ggml_backend_dev_type(dev);
    if (type != GGML_BACKEND_DEVICE_TYPE_GPU && type != GGML_BACKEND_DEVICE_TYPE_IGPU) continue;
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    if (reg != nullptr && std::strcmp(ggml_backend_reg_name(reg), "RPC") == 0) continue;
    return true;
  }
  return false;
}

// Checks what llama.cpp would otherwise report as a bare "failed to load": that the file
// exists, is a GGUF, and (unless vocab-only is wanted) has tensors.
Status CheckGguf(const ModelOptions& opts) {
  std::error_code ec;
  if (!std::filesystem::exists(opts.path, ec)) {
    return Status::NotFound("model file not found: " + opts.path);
  }
  if (std::filesystem::is_directory(opts.path, ec)) {
    return Status::InvalidArgument("model path is a directory: " + opts.path);
  }
  std::ifstream f(opts.path, std::ios::binary);
  char magic[4] = {};
  if (!f.read(magic, 4) || std::memcmp(magic, "GGUF", 4) != 0) {
    return Status::Corruption(opts.path + " is not a GGUF file");
  }
  gguf_init_params gp{/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* g = gguf_init_from_file(opts.path.c_str(), gp);
  if (g == nullptr) {
    return Status::Corruption(opts.path + " is a corrupt or truncated GGUF file");
  }
  const int64_t n_tensors = gguf_get_n_tensors(g);
  gguf_free(g);
  if (n_tensors == 0 && !opts.vocab_only) {
    return Status::InvalidArgument(opts.path +
                                   " is a vocab-only GGUF (no weights): it can be used with "
                                   "`coolfusion boundaries` but cannot generate");
  }
  return Status::Ok();
}

}  // namespace

struct LlamaModel::Handles {
  llama_model_ptr model;
  llama_context_ptr ctx;
  const llama_vocab* vocab = nullptr;
  llama_batch batch{};
  int batch_capacity = 0;
  std::vector<uint8_t> control;  // 1 for control tokens that are not end-of-generation
  // With lanes > 1: the scheduler of the set of lanes, and this model's index in it.
  std::shared_ptr<DecodeScheduler> sched;
  int sched_model = -1;

  ~Handles() {
    sched.reset();  // before the context (the scheduler may be the last user of it)
    if (batch_capacity > 0) llama_batch_free(batch);
  }
};

LlamaModel::LlamaModel() : h_(std::make_shared<Handles>()) {}
LlamaModel::~LlamaModel() = default;

namespace {

// A chat template given by the user (a built-in name or a template's text) must be one
// llama_chat_apply_template renders; else the error lists the built-in names.
Status CheckChatTemplate(const std::string& tmpl) {
  const llama_chat_message probe[] = {{"user", "hi"}};
  char buf[512];
  if (llama_chat_apply_template(tmpl.c_str(), probe, 1, true, buf, sizeof buf) >= 0)
    return Status::Ok();
  std::vector<const char*> names(llama_chat_builtin_templates(nullptr, 0));
  llama_chat_builtin_templates(names.data(), names.size());
  std::string list;
  for (const char* n : names) list += std::string(list.empty() ? "" : ", ") + n;
  const std::string shown = tmpl.size() > 40 ? Utf8Excerpt(tmpl, 40) + "..." : tmpl;
  return Status::InvalidArgument("chat template '" + shown +
                                 "' is neither one of llama.cpp's built-in templates (" + list +
                                 ") nor a template text llama.cpp recognizes");
}

}  // namespace

Status LlamaModel::Load(const ModelOptions& opts, int n_seq_max, int extra_texts,
                        std::unique_ptr<LlamaModel>* out, int lanes,
                        std::shared_ptr<DecodeScheduler> scheduler) {
  lanes = std::max(lanes, 1);
  n_seq_max = std::max(n_seq_max, 1);
  if ((int64_t)lanes * n_seq_max > 256) {
    return Status::InvalidArgument("too many slots for " + std::to_string(n_seq_max) +
                                   " KV sequences each: llama.cpp holds at most 256 (" +
                                   std::to_string(lanes) + " asked for)");
  }
  std::call_once(g_backend_once, [] {
    InstallBackendLogger();
    llama_backend_init();
  });
  CF_RETURN_IF_ERROR(CheckGguf(opts));

  std::unique_ptr<LlamaModel> m(new LlamaModel());
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = opts.vocab_only;
  mp.n_gpu_layers = opts.n_gpu_layers;
  if (!opts.use_mmap) mp.load_mode = LLAMA_LOAD_MODE_NONE;  // read into memory
  std::vector<ggml_backend_dev_t> devices;
  if (!opts.rpc.empty() && !opts.vocab_only) {
    // Every layer on the workers unless -ngl asks for fewer; the list ends with null.
    if (!(opts.rpc_timeout_s >= 0) || opts.rpc_timeout_s > 1e6)
      return Status::InvalidArgument("the RPC timeout must be a number of seconds in [0, 1000000]");
    Status st = RpcDevices(opts.rpc, opts.rpc_timeout_s, &devices);
    if (!st.ok()) {
      switch (st.code()) {
        case Status::Code::kNotFound: return Status::NotFound(opts.path + ": " + st.message());
        case Status::Code::kUnavailable:
          return Status::Unavailable(opts.path + ": " + st.message());
        default: return Status::InvalidArgument(opts.path + ": " + st.message());
      }
    }
    devices.push_back(nullptr);
    mp.devices = devices.data();
    if (mp.n_gpu_layers == 0) mp.n_gpu_layers = -1;
    m->rpc_ = opts.rpc;
    m->rpc_timeout_s_ = opts.rpc_timeout_s;
  }
  m->label_ = std::filesystem::path(opts.path).stem().string();
  m->gpu_layers_on_cpu_ =
      !opts.vocab_only && opts.rpc.empty() && opts.n_gpu_layers != 0 && !HasGpuDevice();
  ClearLastBackendError();
  m->h_->model.reset(llama_model_load_from_file(opts.path.c_str(), mp));
  if (!m->h_->model) {
    std::string why = LastBackendError();
    return Status::Corruption(
        "cannot load " + opts.path +
        (why.empty() ? std::string(": unsupported or corrupt model") : ": " + why));
  }
  llama_model* model = m->h_->model.get();
  const llama_vocab* vocab = llama_model_get_vocab(model);
  m->h_->vocab = vocab;
  m->n_vocab_ = llama_vocab_n_tokens(vocab);
  m->add_bos_ = llama_vocab_get_add_bos(vocab);
  m->bos_ = llama_vocab_bos(vocab);
  m->eos_ =
      llama_vocab_eot(vocab) != LLAMA_TOKEN_NULL ? llama_vocab_eot(vocab) : llama_vocab_eos(vocab);
  switch (llama_vocab_type(vocab)) {
    case LLAMA_VOCAB_TYPE_SPM: m->tokenizer_name_ = "spm"; break;
    case LLAMA_VOCAB_TYPE_BPE: m->tokenizer_name_ = "bpe"; break;
    case LLAMA_VOCAB_TYPE_WPM: m->tokenizer_name_ = "wpm"; break;
    case LLAMA_VOCAB_TYPE_UGM: m->tokenizer_name_ = "ugm"; break;
    case LLAMA_VOCAB_TYPE_RWKV: m->tokenizer_name_ = "rwkv"; break;
    default: m->tokenizer_name_ = "other"; break;
  }

  m->pieces_.resize(m->n_vocab_);
  m->h_->control.assign(m->n_vocab_, 0);
  std::vector<char> buf(256);
  for (Token t = 0; t < m->n_vocab_; ++t) {
    int n = llama_token_to_piece(vocab, t, buf.data(), (int)buf.size(), 0, true);
    if (n < 0) {
      buf.resize(-n);
      n = llama_token_to_piece(vocab, t, buf.data(), (int)buf.size(), 0, true);
    }
    m->pieces_[t].assign(buf.data(), std::max(n, 0));
    m->max_piece_bytes_ = std::max(m->max_piece_bytes_, m->pieces_[t].size());
    if (llama_vocab_is_control(vocab, t) && !llama_vocab_is_eog(vocab, t)) m->h_->control[t] = 1;
  }
  m->continues_word_.assign(m->n_vocab_, 0);
  m->byte_tokens_.assign(256, -1);
  for (Token t = 0; t < m->n_vocab_; ++t) {
    const std::string& p = m->pieces_[t];
    m->continues_word_[t] = !p.empty() && IsAsciiAlnum((unsigned char)p[0]);
    if (p.empty() || llama_vocab_is_control(vocab, t) || llama_vocab_is_eog(vocab, t)) continue;
    if (p.size() == 1) {
      if (m->byte_tokens_[(unsigned char)p[0]] < 0) m->byte_tokens_[(unsigned char)p[0]] = t;
    } else if (p.size() <= 4 && Utf8SequenceLength((unsigned char)p[0]) == p.size()) {
      m->char_tokens_.emplace(p, t);
    }
  }
  m->joins_known_ = m->tokenizer_name_ == "spm" || m->tokenizer_name_ == "bpe";
  for (Token t = 0; t < m->n_vocab_ && m->joins_known_; ++t) {
    if (llama_vocab_is_control(vocab, t)) continue;  // never made from plain text
    m->joins_.Add(m->pieces_[t]);
  }
  m->joins_.Finish();
  // SentencePiece's dummy prefix: does tokenizing "a" yield a piece with a leading space?
  std::vector<Token> probe;
  if (m->Tokenize("a", false, false, &probe).ok() && !probe.empty()) {
    m->adds_space_prefix_ = !m->pieces_[probe[0]].empty() && m->pieces_[probe[0]][0] == ' ';
  }
  if (const char* tmpl = llama_model_chat_template(model, nullptr)) m->chat_template_ = tmpl;
  if (!opts.chat_template_jinja.empty()) {
    // --chat-template-file: the user's Jinja template must parse.
    Status st = JinjaTemplate::ForModel(model, opts.chat_template_jinja, &m->jinja_);
    if (!st.ok()) return Status::InvalidArgument("--chat-template-file: " + st.message());
    m->jinja_source_ = opts.chat_template_jinja;
    m->chat_template_ = opts.chat_template_jinja;
  } else if (!opts.chat_template.empty()) {
    CF_RETURN_IF_ERROR(CheckChatTemplate(opts.chat_template));
    m->chat_template_ = opts.chat_template;  // a name or a text for the built-in matcher
  } else if (!m->chat_template_.empty() && opts.jinja_gguf_template) {
    // The GGUF's own template: llama.cpp's Jinja engine when it parses the template and
    // renders a first user message with it; else the built-in matcher, as before.
    std::unique_ptr<JinjaTemplate> j;
    Status st = JinjaTemplate::ForModel(model, "", &j);
    if (st.ok()) {
      std::string probe;
      st = j->Render({{"user", "Hello"}}, std::chrono::system_clock::now(), &probe);
    }
    if (st.ok()) {
      m->jinja_ = std::move(j);
    } else {
      m->chat_template_warning_ =
          st.message() + "; its chats are rendered by llama.cpp's built-in template matcher";
    }
  }
  if (m->jinja_) m->opens_thinking_ = m->jinja_->OpensThinking();
  m->n_params_ = opts.vocab_only ? 0 : llama_model_n_params(model);

  if (!opts.vocab_only) {
    // llama.cpp's tools' default: 4096 whatever the model was trained on (a model trained
    // on 128 tokens still writes past them, if worse; the caller warns).
    m->n_ctx_train_ = llama_model_n_ctx_train(model);
    int n_ctx = opts.n_ctx > 0 ? opts.n_ctx : 4096;
    if (n_ctx < 8) n_ctx = 8;
    m->n_ctx_ = n_ctx;
    llama_context_params cp = llama_context_default_params();
    const int kv_size = n_ctx + std::max(extra_texts, 0) * std::min(n_ctx, 2048);
    m->n_batch_ = kv_size;
    m->lanes_ = lanes;
    m->n_seq_lane_ = n_seq_max;
    // Lanes: one cache with every lane's room; a lane's batch goes to the scheduler in
    // chunks of at most n_ubatch tokens, and one llama_decode takes a chunk of each lane.
    const int ubatch = std::min(kv_size, 512);
    const int ctx_batch = lanes == 1 ? kv_size : std::max(kv_size, lanes * ubatch);
    cp.n_ctx = (uint32_t)((int64_t)kv_size * lanes);
    cp.n_batch = ctx_batch;
    cp.n_ubatch = ubatch;
    cp.n_seq_max = n_seq_max * lanes;
    cp.kv_unified = true;  // candidate sequences share the prefix cells of sequence 0
    cp.no_perf = true;
    cp.flash_attn_type = opts.flash_attn < 0    ? LLAMA_FLASH_ATTN_TYPE_AUTO
                         : opts.flash_attn == 0 ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                                : LLAMA_FLASH_ATTN_TYPE_ENABLED;
    // Lanes on the CPU: ggml's flash-attention kernels take another path (and another
    // summation order) for a batch of one query, for a larger batch and for a cache of 512
    // cells or more, so a lane's logits would depend on what the other lanes decode in the
    // same call; the plain attention path gives every lane the same numbers whatever the
    // batch (docs/performance.md). `auto` means off there; -fa on is honoured.
    if (lanes > 1 && opts.flash_attn < 0 && !HasGpuDevice())
      cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    const int threads =
        opts.n_threads > 0 ? opts.n_threads : std::max(1u, std::thread::hardware_concurrency());
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    m->requested_threads_ = opts.n_threads;
    m->load_threads_ = threads;
    ClearLastBackendError();
    m->h_->ctx.reset(llama_init_from_model(model, cp));
    if (!m->h_->ctx) {
      std::string why = LastBackendError();
      return Status::ResourceExhausted("cannot create a context of " + std::to_string(kv_size) +
                                       " tokens for " + opts.path +
                                       (why.empty() ? "" : ": " + why));
    }
    m->ctx_ = m->h_->ctx.get();
    if (lanes > 1) {
      if (!scheduler) scheduler = std::make_shared<DecodeScheduler>(lanes);
      m->h_->sched_model =
          scheduler->AddModel(m->h_->ctx.get(), m->n_vocab_, ctx_batch, !opts.rpc.empty());
      m->h_->sched = std::move(scheduler);
    }
  }
  *out = std::move(m);
  return Status::Ok();
}

Status LlamaModel::Tokenize(std::string_view text, bool add_bos, bool parse_special,
                            std::vector<Token>* out) const {
  const llama_vocab* vocab = h_->vocab;
  if (text.size() > (size_t)INT32_MAX / 2)
    return Status::InvalidArgument("text too long to tokenize");
  out->resize(text.size() + 2);
  try {
    int n = llama_tokenize(vocab, text.data(), (int32_t)text.size(), out->data(),
                           (int32_t)out->size(), add_bos && add_bos_, parse_special);
    if (n < 0 && n != INT32_MIN) {
      out->resize(-n);
      n = llama_tokenize(vocab, text.data(), (int32_t)text.size(), out->data(),
                         (int32_t)out->size(), add_bos && add_bos_, parse_special);
    }
    if (n < 0) return Status::InvalidArgument("text too long to tokenize");
    out->resize(n);
  } catch (const std::exception&) {
    // llama.cpp throws (std::out_of_range) on characters a vocabulary without byte
    // fallback cannot encode. Name the first such character.
    out->clear();
    std::vector<Token> tmp(16);
    size_t i = 0;
    while (i < text.size()) {
      size_t len = 1;
      const unsigned char c = text[i];
      if (c >= 0xF0)
        len = 4;
      else if (c >= 0xE0)
        len = 3;
      else if (c >= 0xC0)
        len = 2;
      len = std::min(len, text.size() - i);
      try {
        tmp.resize(16);
        llama_tokenize(vocab, text.data() + i, (int32_t)len, tmp.data(), (int32_t)tmp.size(), false,
                       false);
      } catch (const std::exception&) {
        char where[64];
        uint32_t cp = c;
        if (len == 2) cp = ((c & 0x1F) << 6) | (text[i + 1] & 0x3F);
        if (len == 3) cp = ((c & 0x0F) << 12) | ((text[i + 1] & 0x3F) << 6) | (text[i + 2] & 0x3F);
        if (len == 4)
          cp = ((c & 0x07) << 18) | ((text[i + 1] & 0x3F) << 12) | ((text[i + 2] & 0x3F) << 6) |
               (text[i + 3] & 0x3F);
        std::snprintf(where, sizeof where, "U+%04X at byte %zu", cp, i);
        return Status::InvalidArgument(std::string("the vocabulary cannot encode character ") +
                                       where);
      }
      i += len;
    }
    return Status::InvalidArgument("the vocabulary cannot encode this text");
  }
  return Status::Ok();
}

bool LlamaModel::IsEog(Token t) const { return llama_vocab_is_eog(h_->vocab, t); }

Status LlamaModel::ApplyChatTemplate(const std::vector<ChatMessage>& messages,
                                     std::string* out) const {
  std::vector<llama_chat_message> msgs;
  size_t total = 0;
  for (const auto& m : messages) {
    msgs.push_back({m.role.c_str(), m.content.c_str()});
    total += m.role.size() + m.content.size();
  }
  if (!chat_template_.empty()) {
    std::vector<char> buf(2 * total + 256);
    int n = llama_chat_apply_template(chat_template_.c_str(), msgs.data(), msgs.size(), true,
                                      buf.data(), (int)buf.size());
    if (n > (int)buf.size()) {
      buf.resize(n);
      n = llama_chat_apply_template(chat_template_.c_str(), msgs.data(), msgs.size(), true,
                                    buf.data(), (int)buf.size());
    }
    if (n >= 0) {
      out->assign(buf.data(), n);
      return Status::Ok();
    }
  }
  // Documented fallback for models without a (supported) template: plain role lines.
  out->clear();
  for (const auto& m : messages) {
    std::string role = m.role;
    if (!role.empty()) role[0] = (char)std::toupper((unsigned char)role[0]);
    *out += role + ": " + m.content + "\n";
  }
  *out += "Assistant:";
  return Status::Ok();
}

Status LlamaModel::RenderChat(const std::vector<ChatMessage>& messages, ChatText* out) const {
  if (jinja_) {
    bool exact = false;
    const Status st = jinja_->RenderSplit(messages, std::chrono::system_clock::now(), out, &exact);
    if (st.ok()) {
      if (!exact && !warned_jinja_inexact_.exchange(true)) {
        std::fprintf(stderr,
                     "warning: %s: its chat template changes or tests message contents; "
                     "they are put in as written, so its prompt differs from llama-server's\n",
                     label_.c_str());
      }
      return Status::Ok();
    }
    if (!warned_jinja_failed_.exchange(true)) {
      std::fprintf(stderr,
                   "warning: %s: %s; this chat is rendered by llama.cpp's built-in template "
                   "matcher instead\n",
                   label_.c_str(), st.message().c_str());
    }
  }
  std::string marked;
  CF_RETURN_IF_ERROR(ApplyChatTemplate(MarkContents(messages, false), &marked));
  SplitMarked(marked, messages, nullptr, out);
  return Status::Ok();
}

Status LlamaModel::NewLane(int lane, std::unique_ptr<LlamaModel>* out) const {
  if (lane <= 0 || lane >= lanes_ || !h_->sched)
    return Status::InvalidArgument("no lane " + std::to_string(lane) + " in " + label_);
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  m->h_ = h_;
  m->ctx_ = ctx_;
  m->pieces_ = pieces_;
  m->max_piece_bytes_ = max_piece_bytes_;
  m->continues_word_ = continues_word_;
  m->byte_tokens_ = byte_tokens_;
  m->char_tokens_ = char_tokens_;
  m->joins_ = joins_;
  m->joins_known_ = joins_known_;
  m->n_vocab_ = n_vocab_;
  m->add_bos_ = add_bos_;
  m->adds_space_prefix_ = adds_space_prefix_;
  m->bos_ = bos_;
  m->eos_ = eos_;
  m->n_ctx_ = n_ctx_;
  m->n_ctx_train_ = n_ctx_train_;
  m->n_batch_ = n_batch_;
  m->requested_threads_ = requested_threads_;
  m->load_threads_ = load_threads_;
  m->n_params_ = n_params_;
  m->tokenizer_name_ = tokenizer_name_;
  m->opens_thinking_ = opens_thinking_;
  m->chat_template_ = chat_template_;
  m->jinja_source_ = jinja_source_;
  if (jinja_) {
    // A template engine of its own: lanes render on their own threads.
    CF_RETURN_IF_ERROR(JinjaTemplate::ForModel(h_->model.get(), jinja_source_, &m->jinja_));
  }
  m->chat_template_warning_ = chat_template_warning_;
  m->label_ = label_;
  m->gpu_layers_on_cpu_ = gpu_layers_on_cpu_;
  m->rpc_ = rpc_;
  m->rpc_timeout_s_ = rpc_timeout_s_;
  m->lanes_ = lanes_;
  m->lane_ = lane;
  m->n_seq_lane_ = n_seq_lane_;
  m->seq_base_ = lane * n_seq_lane_;
  *out = std::move(m);
  return Status::Ok();
}

BatchingTotals LlamaModel::batching() const {
  return h_->sched ? h_->sched->stats(h_->sched_model) : BatchingTotals();
}

void LlamaModel::SetActive(bool active) {
  if (h_->sched) h_->sched->SetActive(lane_, active);
}

BatchingTotals LlamaModel::lane_totals() const {
  BatchingTotals t;
  t.decodes = total_decodes_;
  t.lane_jobs = total_lanes_;
  t.tokens = total_tokens_;
  t.max_lanes = total_max_lanes_;
  t.wait_ms = (double)total_wait_us_ / 1000.0;
  return t;
}

Status LlamaModel::LaneDecode(const std::vector<BatchItem>& items) {
  const int n = (int)items.size();
  int rows = 0;
  lane_row_.assign(n, -1);
  for (int i = 0; i < n; ++i) {
    if (items[i].want_logits) lane_row_[i] = rows++;
  }
  lane_logits_.resize((size_t)rows * (size_t)n_vocab_);
  // Chunks of at most n_ubatch tokens: a long prompt does not hold the other lanes'
  // next tokens back for longer than one ubatch.
  const int chunk = std::min(n_batch_, 512);
  std::vector<BatchItem>& part = lane_part_;
  const auto t0 = std::chrono::steady_clock::now();
  Status st;
  int row = 0;  // the chunk's first logits row
  for (int at = 0; at < n && st.ok(); at += chunk) {
    const int len = std::min(chunk, n - at);
    part.assign(items.begin() + at, items.begin() + at + len);
    int wanted = 0;
    for (BatchItem& it : part) {
      it.seq += seq_base_;
      wanted += it.want_logits ? 1 : 0;
    }
    const DecodeScheduler::Result r =
        h_->sched->Decode(h_->sched_model, lane_, part.data(), len,
                          lane_logits_.data() + (size_t)row * (size_t)n_vocab_);
    row += wanted;
    stats_.calls += 1;
    stats_.tokens += len;
    total_decodes_ += 1;
    total_lanes_ += r.batch_lanes;
    total_tokens_ += r.batch_tokens;
    total_wait_us_ += (int64_t)(r.wait_ms * 1000);
    if (r.batch_lanes > total_max_lanes_) total_max_lanes_ = r.batch_lanes;
    st = DecodeError(r.rc, len);  // also a broken RPC worker, which llama_decode may not report
  }
  stats_.ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

Status LlamaModel::DecodeError(int rc, int n) const {
  if (!rpc_.empty()) {
    const std::string dead = FailedRpcEndpoint(rpc_);
    if (!dead.empty()) {
      const std::string deadline =
          rpc_timeout_s_ > 0
              ? " or sent nothing for " + FormatSeconds(rpc_timeout_s_) + " (--rpc-timeout)"
              : "";
      return Status::Unavailable("RPC worker " + dead + " failed: it died, broke the connection" +
                                 deadline);
    }
  }
  switch (rc) {
    case 0: return Status::Ok();
    case 1:
      return Status::ResourceExhausted("context full (no KV cache slot for " + std::to_string(n) +
                                       " tokens)");
    case 2: return Status::Cancelled("decoding aborted");
    case -1: return Status::Internal("llama_decode rejected the batch");
    default: return Status::Internal("llama_decode failed with code " + std::to_string(rc));
  }
}

Status LlamaModel::Decode(const std::vector<BatchItem>& items) {
  if (items.empty()) return Status::Ok();
  const int n = (int)items.size();
  if (n > n_batch_) {
    return Status::ResourceExhausted("context full (a batch of " + std::to_string(n) +
                                     " tokens exceeds " + std::to_string(n_batch_) + ")");
  }
  if (h_->sched) return LaneDecode(items);
  if (n > h_->batch_capacity) {
    if (h_->batch_capacity > 0) llama_batch_free(h_->batch);
    h_->batch = llama_batch_init(n, 0, 1);
    h_->batch_capacity = n;
  }
  llama_batch& b = h_->batch;
  b.n_tokens = n;
  for (int i = 0; i < n; ++i) {
    b.token[i] = items[i].token;
    b.pos[i] = items[i].pos;
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = items[i].seq;
    b.logits[i] = items[i].want_logits;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = llama_decode(h_->ctx.get(), b);
  // llama_decode may return before the backend is done (RPC, GPU); wait here, so that the
  // time is counted where it is spent and a caller that decodes one model at a time does.
  if (rc == 0) llama_synchronize(h_->ctx.get());
  stats_.ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  stats_.calls += 1;
  stats_.tokens += n;
  return DecodeError(rc, n);
}

const float* LlamaModel::Logits(int i) const {
  if (h_->sched) {
    const int row = i >= 0 && i < (int)lane_row_.size() ? lane_row_[i] : -1;
    return row < 0 ? nullptr : lane_logits_.data() + (size_t)row * (size_t)n_vocab_;
  }
  return llama_get_logits_ith(h_->ctx.get(), i);
}

void LlamaModel::SeqRemove(int seq, int p0, int p1) {
  if (h_->sched) {
    // seq -1 (every sequence) is every sequence of this lane.
    h_->sched->Exclusive(h_->sched_model, [&](llama_context* c) {
      const int first = seq < 0 ? 0 : seq, last = seq < 0 ? n_seq_lane_ - 1 : seq;
      for (int s = first; s <= last; ++s)
        llama_memory_seq_rm(llama_get_memory(c), seq_base_ + s, p0, p1);
    });
    return;
  }
  llama_memory_seq_rm(llama_get_memory(h_->ctx.get()), seq, p0, p1);
}
void LlamaModel::SeqCopy(int src, int dst, int p0, int p1) {
  if (h_->sched) {
    h_->sched->Exclusive(h_->sched_model, [&](llama_context* c) {
      llama_memory_seq_cp(llama_get_memory(c), seq_base_ + src, seq_base_ + dst, p0, p1);
    });
    return;
  }
  llama_memory_seq_cp(llama_get_memory(h_->ctx.get()), src, dst, p0, p1);
}
void LlamaModel::SetThreads(int n) {
  // One context for every lane, its decodes one at a time on the scheduler's thread:
  // they keep the load-time choice whatever a request's --parallel-models would split.
  if (ctx_ == nullptr || h_->sched) return;
  const int t = n > 0 ? n : load_threads_;
  llama_set_n_threads(h_->ctx.get(), t, t);
}

void LlamaModel::ClearMemory() {
  if (h_->sched) {
    // This lane's sequences only: the other lanes' are theirs.
    h_->sched->Exclusive(h_->sched_model, [&](llama_context* c) {
      for (int s = 0; s < n_seq_lane_; ++s)
        llama_memory_seq_rm(llama_get_memory(c), seq_base_ + s, -1, -1);
    });
    return;
  }
  llama_memory_clear(llama_get_memory(h_->ctx.get()), true);
}

const void* LlamaModel::vocab_handle() const { return h_->vocab; }

bool LlamaModel::Joins(char32_t before, char32_t at) const {
  return !joins_known_ || joins_.Joins(before, at);
}

Token LlamaModel::CharToken(std::string_view ch) const {
  if (ch.size() == 1) return byte_tokens_[(unsigned char)ch[0]];
  auto it = char_tokens_.find(std::string(ch));
  return it == char_tokens_.end() ? -1 : it->second;
}

bool LlamaModel::IsSuppressed(Token t) const { return h_->control[t] != 0; }
const std::vector<uint8_t>& LlamaModel::suppressed() const { return h_->control; }
bool LlamaModel::IsControl(Token t) const { return llama_vocab_is_control(h_->vocab, t); }

}  // namespace coolfusion
