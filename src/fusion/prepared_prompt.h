// PreparedPrompt (engine.h): a request's prompt rendered and tokenized for each model,
// made once by Ensemble::Validate and read by CachedPrefix and Generate, so that a
// server's request is tokenized once per model whatever its slot choice.
#pragma once

#include <coolfusion/options.h>

#include <memory>
#include <string>
#include <vector>

#include "fusion/prompt.h"

namespace coolfusion {

class PreparedPrompt {
 public:
  // `keys[i]`: what identifies model i's rendering (its file and chat template:
  // ModelKey); `rendered[i]` null for a model not asked.
  PreparedPrompt(const Request& request, std::vector<std::string> keys,
                 std::vector<std::unique_ptr<RenderedPrompt>> rendered);

  // Model i's rendering when this was made for the request's prompt on models with these
  // keys; null otherwise (or when model i was not rendered).
  const RenderedPrompt* For(const Request& request, const std::vector<std::string>& keys,
                            size_t i) const;

 private:
  bool Matches(const Request& request, const std::vector<std::string>& keys) const;
  std::string prompt_;
  std::vector<ChatMessage> messages_;
  std::vector<std::string> keys_;
  std::vector<std::unique_ptr<RenderedPrompt>> rendered_;
};

// What makes two loaded models render and tokenize a prompt alike: the file and the chat
// template in use.
std::string ModelKey(const std::string& path, const LlamaModel& m);

}  // namespace coolfusion
