#include "fusion/prepared_prompt.h"

namespace coolfusion {

std::string ModelKey(const std::string& path, const LlamaModel& m) {
  return path + '\0' + std::to_string(m.n_vocab()) + '\0' + m.chat_template();
}

PreparedPrompt::PreparedPrompt(const Request& request, std::vector<std::string> keys,
                               std::vector<std::unique_ptr<RenderedPrompt>> rendered)
    : prompt_(request.prompt),
      messages_(request.messages),
      keys_(std::move(keys)),
      rendered_(std::move(rendered)) {}

bool PreparedPrompt::Matches(const Request& request, const std::vector<std::string>& keys) const {
  if (keys != keys_ || request.prompt != prompt_ || request.messages.size() != messages_.size())
    return false;
  for (size_t i = 0; i < messages_.size(); ++i) {
    if (request.messages[i].role != messages_[i].role ||
        request.messages[i].content != messages_[i].content)
      return false;
  }
  return true;
}

const RenderedPrompt* PreparedPrompt::For(const Request& request,
                                          const std::vector<std::string>& keys, size_t i) const {
  if (i >= rendered_.size() || !Matches(request, keys)) return nullptr;
  return rendered_[i].get();
}

}  // namespace coolfusion
