// LlamaModel: one GGUF model and its llama.cpp context. The only place (with its .cc and
// decode_scheduler.cc) that talks to llama.h. Owns handles through llama-cpp.h's RAII
// pointers.
//
// Lanes: a model loaded for several lanes has one context for all of them, a range of KV
// sequences per lane, and a DecodeScheduler (shared by the models of one set of lanes)
// that decodes every lane's work in one batched llama_decode per model per tick. Each lane is a
// LlamaModel of its own (Load gives lane 0, NewLane the others) that shares the weights, the
// vocabulary and the context; a lane's sequence numbers are its own (0 .. n_seq_max-1) and mapped
// to its range.
//
// Not thread-safe: one LlamaModel (one lane) serves one generation at a time; different
// lanes of one model may run on different threads.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/status.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backend/chat_text.h"
#include "backend/piece_joins.h"
#include "backend/tokenizer.h"

namespace coolfusion {

struct DecodeStats {
  int64_t calls = 0;
  int64_t tokens = 0;
  double ms = 0;  // wall time inside llama_decode (with lanes: including waiting for it)
};

// How decodes were batched with lanes (LlamaModel::batching, lane_totals): llama_decode
// calls, the lanes' batches they took (lane_jobs / decodes: lanes per call), their tokens,
// the most batches in one call, and the batches' waits from handing in to the call.
struct BatchingTotals {
  int64_t decodes = 0, lane_jobs = 0, tokens = 0;
  int max_lanes = 0;
  double wait_ms = 0;
};

class DecodeScheduler;
class JinjaTemplate;

class LlamaModel final : public Tokenizer {
 public:
  // Loads `opts.path`. `n_seq_max` sequences share one unified KV cache with room for
  // the shared text (n_ctx cells) plus `extra_texts` scoring sequences of up to
  // min(n_ctx, 2048) cells each; with `lanes` > 1, as many times that, in one context
  // (see Lanes above), its decodes going through `scheduler` (one of its own when null).
  // Errors name the file.
  static Status Load(const ModelOptions& opts, int n_seq_max, int extra_texts,
                     std::unique_ptr<LlamaModel>* out, int lanes = 1,
                     std::shared_ptr<DecodeScheduler> scheduler = nullptr);
  // Lane `lane` of a model loaded with lanes > 1 (1 <= lane < lanes()). It shares this
  // model's handles, which live as long as any lane.
  Status NewLane(int lane, std::unique_ptr<LlamaModel>* out) const;
  int lanes() const { return lanes_; }
  // With lanes: this lane generates (true) or is idle again (false); the scheduler's ticks
  // wait for generating lanes to hand in their batches. Nothing with one lane.
  void SetActive(bool active);
  // How the shared context's decodes were batched (zeros with one lane): /metrics.
  BatchingTotals batching() const;
  ~LlamaModel() override;

  // Tokenizer
  Status Tokenize(std::string_view text, bool add_bos, bool parse_special,
                  std::vector<Token>* out) const override;
  std::string_view Piece(Token t) const override { return pieces_[t]; }
  bool AddsSpacePrefix() const override { return adds_space_prefix_; }
  bool Joins(char32_t before, char32_t at) const override;

  bool vocab_only() const { return ctx_ == nullptr; }
  int32_t n_vocab() const { return n_vocab_; }
  bool add_bos() const { return add_bos_; }
  Token bos() const { return bos_; }
  Token eos() const { return eos_; }  // end-of-generation token used to score "stop here"
  bool IsEog(Token t) const;
  // Control tokens that are not end-of-generation: never sampled into text.
  bool IsSuppressed(Token t) const;
  // The same as a mask over the vocabulary (1: suppressed).
  const std::vector<uint8_t>& suppressed() const;
  // Control (special) tokens, e.g. a chat template's <|im_start|>.
  bool IsControl(Token t) const;
  // Per token: 1 when its piece starts with an ASCII letter or digit, i.e. it would
  // continue a word that ends in one (no space or punctuation before it).
  const std::vector<uint8_t>& word_continuations() const { return continues_word_; }
  // A token whose piece is exactly `ch` (one byte, or one UTF-8 character), -1 if none;
  // never a control or end-of-generation token. How text that another model wrote is fed
  // to this model's grammar (grammar.h).
  Token CharToken(std::string_view ch) const;
  int n_ctx() const { return n_ctx_; }
  int n_ctx_train() const { return n_ctx_train_; }  // the context it was trained on
  // The longest token's text in bytes: a text of more than n_ctx() * max_piece_bytes()
  // bytes cannot fit the context, whatever its tokenization (checked before tokenizing).
  size_t max_piece_bytes() const {
    return max_piece_bytes_;
  }                                         // limit for the shared text (sequence 0)
  int n_batch() const { return n_batch_; }  // most tokens one Decode takes
  const std::string& tokenizer_name() const { return tokenizer_name_; }
  uint64_t n_params() const { return n_params_; }
  const std::string& chat_template() const { return chat_template_; }
  // Whether its Jinja template opens a thinking block in the generation prompt
  // (JinjaTemplate::OpensThinking); false without one.
  bool opens_thinking() const { return opens_thinking_; }
  // How messages name this model: "model 2 (aidreams260K)", its place in the user's -m
  // order (1-based) and its file name without ".gguf"; the file stem until SetLabel.
  const std::string& label() const { return label_; }
  void SetLabel(std::string label) { label_ = std::move(label); }
  // -ngl asked for layers on a GPU (and no rpc= workers take them), but this build has no
  // GPU backend registered in ggml: every layer runs on the CPU.
  bool gpu_layers_on_cpu() const { return gpu_layers_on_cpu_; }

  // Renders chat messages with the model's GGUF template (llama.h's built-in templates).
  Status ApplyChatTemplate(const std::vector<ChatMessage>& messages, std::string* out) const;
  // Chat messages as this model's prompt text, the contents told apart (chat_text.h): by
  // llama.cpp's Jinja engine as llama-server --jinja renders them (jinja_template.h) when
  // the model's template (or --chat-template-file's) is one it renders; else, and for a
  // conversation the template raises on, by ApplyChatTemplate (a warning once each).
  // REQUIRES: !chat_template().empty().
  Status RenderChat(const std::vector<ChatMessage>& messages, ChatText* out) const;
  // Whether RenderChat uses llama.cpp's Jinja engine.
  bool renders_jinja() const { return jinja_ != nullptr; }
  // Why the model's own template is not rendered by the Jinja engine (empty when it is,
  // or when there is no template): for Ensemble::LoadWarnings.
  const std::string& chat_template_warning() const { return chat_template_warning_; }

  // One batch entry: token at position `pos` of sequence `seq`; `want_logits` asks for
  // its output row.
  struct BatchItem {
    Token token;
    int pos;
    int seq;
    bool want_logits;
  };
  // Decodes one batch. Maps llama_decode's return codes: 1 (no KV slot) is
  // ResourceExhausted ("context full"); 2 Cancelled; others Internal. A model on RPC
  // workers whose connection broke, or that sent nothing within the deadline, fails with
  // Unavailable naming the worker.
  Status Decode(const std::vector<BatchItem>& batch);
  // Logits of batch entry i of the last Decode (REQUIRES: it asked for them).
  const float* Logits(int i) const;

  void SeqRemove(int seq, int p0, int p1);  // [p0, p1), -1 open; seq -1: every sequence
  void SeqCopy(int src, int dst, int p0, int p1);
  void ClearMemory();

  // Threads llama.cpp uses for this model's decodes. 0 restores the load-time choice
  // (-t / threads=, else all hardware threads).
  void SetThreads(int n);
  int requested_threads() const { return requested_threads_; }  // 0: not set by the user

  // With lanes: this lane's side of batching() over its life (thread-safe): its batches,
  // and summed over them the lanes and tokens of the decode that took each and its wait.
  BatchingTotals lane_totals() const;

  const DecodeStats& stats() const { return stats_; }
  void ResetStats() { stats_ = {}; }

 private:
  LlamaModel();
  friend class Grammar;  // builds llama.cpp grammar samplers over this model's vocabulary
  const void* vocab_handle() const;  // the llama_vocab*
  struct Handles;
  std::shared_ptr<Handles> h_;
  int lanes_ = 1;
  int lane_ = 0;
  int seq_base_ = 0;          // the lane's first sequence in the shared context
  int n_seq_lane_ = 1;        // sequences per lane
  std::string jinja_source_;  // what JinjaTemplate::ForModel was given ("": the GGUF's)
  // With lanes: the logits rows of the last Decode, and each batch entry's row (-1: none).
  std::vector<float> lane_logits_;
  std::vector<int> lane_row_;
  std::vector<BatchItem> lane_part_;  // the chunk being handed in (kept: no allocation per decode)
  std::atomic<int64_t> total_decodes_{0}, total_lanes_{0}, total_tokens_{0}, total_wait_us_{0};
  std::atomic<int> total_max_lanes_{0};
  Status LaneDecode(const std::vector<BatchItem>& batch);
  Status DecodeError(int rc, int n) const;
  void* ctx_ = nullptr;  // llama_context*, null when vocab-only
  std::vector<std::string> pieces_;
  size_t max_piece_bytes_ = 1;
  std::vector<uint8_t> continues_word_;
  std::vector<Token> byte_tokens_;                      // CharToken of one byte
  std::unordered_map<std::string, Token> char_tokens_;  // of one multi-byte character
  PieceJoins joins_;                                    // over every piece plain text can produce
  bool joins_known_ = false;  // SentencePiece or BPE: pieces are matched on the raw text
  int32_t n_vocab_ = 0;
  bool add_bos_ = false;
  bool adds_space_prefix_ = false;
  Token bos_ = -1, eos_ = -1;
  int n_ctx_ = 0;
  int n_ctx_train_ = 0;
  int n_batch_ = 0;
  int requested_threads_ = 0;
  int load_threads_ = 1;
  uint64_t n_params_ = 0;
  std::string tokenizer_name_;
  bool opens_thinking_ = false;
  std::string chat_template_;
  std::unique_ptr<JinjaTemplate> jinja_;  // null: the built-in matcher renders chats
  std::string chat_template_warning_;
  mutable std::atomic<bool> warned_jinja_failed_{false}, warned_jinja_inexact_{false};
  std::string label_;
  bool gpu_layers_on_cpu_ = false;
  std::vector<std::string> rpc_;  // endpoints this model's layers run on
  double rpc_timeout_s_ = 0;
  DecodeStats stats_;
};

}  // namespace coolfusion
