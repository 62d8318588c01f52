// JinjaTemplate: a chat template rendered by llama.cpp's Jinja engine (common/chat.cpp
// and common/jinja/, compiled into coolfusion_llama_common), exactly as llama-server
// --jinja renders it: common_chat_templates_apply with use_jinja, the vocabulary's BOS and
// EOS texts, add_generation_prompt, and llama-server's defaults for the rest
// (reasoning_format deepseek, enable_thinking on, no tools).
//
// Render, RenderSplit: const, and safe to call from several threads at once (llama-server
// shares one template among its HTTP threads the same way).
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/status.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "backend/chat_text.h"

struct llama_model;

namespace coolfusion {

class JinjaTemplate {
 public:
  // Model `model`'s own template (GGUF tokenizer.chat_template), or `source` instead when
  // not empty, with the model's BOS/EOS texts and whether its vocabulary adds them (a
  // rendered BOS the tokenizer adds again is dropped, as llama.cpp does). NotFound when
  // source is empty and the model has no template; InvalidArgument with the engine's
  // message when it cannot parse the template.
  static Status ForModel(const llama_model* model, const std::string& source,
                         std::unique_ptr<JinjaTemplate>* out);
  // A template's text, with these BOS/EOS texts, for a vocabulary that adds neither
  // (as llama.cpp's common_chat_templates_init(nullptr, source, bos, eos)).
  static Status FromSource(const std::string& source, const std::string& bos,
                           const std::string& eos, std::unique_ptr<JinjaTemplate>* out);
  ~JinjaTemplate();
  JinjaTemplate(const JinjaTemplate&) = delete;
  JinjaTemplate& operator=(const JinjaTemplate&) = delete;

  // The messages rendered, with the generation prompt: the text llama-server --jinja gives
  // the model. `now` is the date templates print (strftime_now). InvalidArgument with the
  // template's message when it raises (e.g. "roles must alternate") or fails.
  Status Render(const std::vector<ChatMessage>& messages, std::chrono::system_clock::time_point now,
                std::string* out) const;

  // The same, with the contents told apart (chat_text.h): rendered with markers, then with
  // the contents. *exact: whether out->text is Render's text byte for byte; false when
  // the template changes or tests contents beyond stripping whitespace, and out->text is
  // then the marked rendering with the contents put in as written (never a content's text
  // where the template's own text belongs).
  Status RenderSplit(const std::vector<ChatMessage>& messages,
                     std::chrono::system_clock::time_point now, ChatText* out, bool* exact) const;

  // Whether the template opens a thinking block where the answer starts: a one-message
  // chat rendered with the generation prompt ends in "<think>" (then whitespace at most),
  // as DeepSeek-R1's and QwQ's do, so the model writes its reasoning first and "</think>"
  // after it. Templates whose models open the block themselves (Qwen3) answer false.
  bool OpensThinking() const;

 private:
  JinjaTemplate();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coolfusion
