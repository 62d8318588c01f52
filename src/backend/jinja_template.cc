#include "backend/jinja_template.h"

#include <chat.h>
#include <llama.h>

#include <exception>

namespace coolfusion {

struct JinjaTemplate::Impl {
  common_chat_templates_ptr templates;
};

JinjaTemplate::JinjaTemplate() : impl_(std::make_unique<Impl>()) {}
JinjaTemplate::~JinjaTemplate() = default;

namespace {

Status Init(const llama_model* model, const std::string& source, const std::string& bos,
            const std::string& eos, common_chat_templates_ptr* out) {
  try {
    *out = common_chat_templates_init(model, source, bos, eos);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("llama.cpp's Jinja engine cannot parse the chat "
                                               "template: ") +
                                   e.what());
  }
  if (!*out) return Status::InvalidArgument("llama.cpp's Jinja engine cannot parse the template");
  return Status::Ok();
}

}  // namespace

Status JinjaTemplate::ForModel(const llama_model* model, const std::string& source,
                               std::unique_ptr<JinjaTemplate>* out) {
  // Without a template common_chat_templates_init would use ChatML; the caller decides.
  if (source.empty() && llama_model_chat_template(model, nullptr) == nullptr)
    return Status::NotFound("the model has no chat template");
  std::unique_ptr<JinjaTemplate> t(new JinjaTemplate());
  CF_RETURN_IF_ERROR(Init(model, source, "", "", &t->impl_->templates));
  *out = std::move(t);
  return Status::Ok();
}

Status JinjaTemplate::FromSource(const std::string& source, const std::string& bos,
                                 const std::string& eos, std::unique_ptr<JinjaTemplate>* out) {
  if (source.empty()) return Status::InvalidArgument("the chat template is empty");
  std::unique_ptr<JinjaTemplate> t(new JinjaTemplate());
  CF_RETURN_IF_ERROR(Init(nullptr, source, bos, eos, &t->impl_->templates));
  *out = std::move(t);
  return Status::Ok();
}

Status JinjaTemplate::Render(const std::vector<ChatMessage>& messages,
                             std::chrono::system_clock::time_point now, std::string* out) const {
  // llama-server's inputs for a chat request without tools (server-common.cpp,
  // oaicompat_chat_params_parse, with common_params' defaults).
  common_chat_templates_inputs in;
  in.use_jinja = true;
  in.add_generation_prompt = true;
  in.reasoning_format = COMMON_REASONING_FORMAT_DEEPSEEK;
  in.enable_thinking = true;
  in.now = now;
  for (const ChatMessage& m : messages) {
    common_chat_msg msg;
    msg.role = m.role;
    msg.content = m.content;
    in.messages.push_back(std::move(msg));
  }
  try {
    *out = common_chat_templates_apply(impl_->templates.get(), in).prompt;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("the chat template failed: ") + e.what());
  }
  return Status::Ok();
}

bool JinjaTemplate::OpensThinking() const {
  std::string prompt;
  if (!Render({{"user", "Hello"}}, std::chrono::system_clock::now(), &prompt).ok()) return false;
  size_t end = prompt.size();
  while (end > 0 && (prompt[end - 1] == '\n' || prompt[end - 1] == ' ' || prompt[end - 1] == '\r'))
    --end;
  constexpr std::string_view kOpen = "<think>";
  return end >= kOpen.size() &&
         std::string_view(prompt).substr(end - kOpen.size(), kOpen.size()) == kOpen;
}

Status JinjaTemplate::RenderSplit(const std::vector<ChatMessage>& messages,
                                  std::chrono::system_clock::time_point now, ChatText* out,
                                  bool* exact) const {
  std::string marked, rendered;  // one date for both
  CF_RETURN_IF_ERROR(Render(MarkContents(messages, true), now, &marked));
  CF_RETURN_IF_ERROR(Render(messages, now, &rendered));
  *exact = SplitMarked(marked, messages, &rendered, out);
  return Status::Ok();
}

}  // namespace coolfusion
