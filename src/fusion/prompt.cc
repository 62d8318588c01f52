#include "fusion/prompt.h"

#include <string_view>

#include "align/token_alignment.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {

// Appends the tokens of one plain-text fragment text[begin:end] and their ends.
Status AppendFragment(const LlamaModel& m, const std::string& text, size_t begin, size_t end,
                      PromptTokens* out) {
  if (begin >= end) return Status::Ok();
  std::vector<Token> toks;
  CF_RETURN_IF_ERROR(
      m.Tokenize(std::string_view(text).substr(begin, end - begin), false, false, &toks));
  std::vector<size_t> ends;
  if (!TokenEnds(m, toks, std::string_view(text).substr(0, end), Anchor{begin, true}, &ends)) {
    out->ends_ok = false;
    ends.assign(toks.size(), begin);
  }
  out->tokens.insert(out->tokens.end(), toks.begin(), toks.end());
  out->ends.insert(out->ends.end(), ends.begin(), ends.end());
  return Status::Ok();
}

void StartWithBos(const LlamaModel& m, PromptTokens* out) {
  out->tokens.clear();
  out->ends.clear();
  if (m.add_bos() && m.bos() >= 0) {
    out->tokens.push_back(m.bos());
    out->ends.push_back(0);
  }
  out->n_fixed = out->tokens.size();
  out->min_anchor = 0;
  out->ends_ok = true;
}

}  // namespace

Status SpelledText(const LlamaModel& m, const std::vector<Token>& ids, std::string* text,
                   size_t* dropped) {
  text->clear();
  *dropped = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= m.n_vocab())
      return Status::InvalidArgument("token " + std::to_string(i + 1) + " (" +
                                     std::to_string(ids[i]) + ") is not in " + m.label() +
                                     "'s vocabulary of " + std::to_string(m.n_vocab()));
    text->append(m.Piece(ids[i]));
  }
  if (m.AddsSpacePrefix() && !text->empty() && (*text)[0] == ' ') {
    text->erase(0, 1);
    *dropped = 1;
  }
  return Status::Ok();
}

Status PlainPrompt(const LlamaModel& m, const std::string& prompt, PromptTokens* out) {
  out->text = prompt;
  StartWithBos(m, out);
  out->content = {{0, prompt.size()}};
  return AppendFragment(m, prompt, 0, prompt.size(), out);
}

Status ChatPrompt(const LlamaModel& m, const std::vector<ChatMessage>& messages,
                  PromptTokens* out) {
  if (m.chat_template().empty()) {
    std::string plain;
    CF_RETURN_IF_ERROR(m.ApplyChatTemplate(messages, &plain));  // the plain fallback
    CF_RETURN_IF_ERROR(PlainPrompt(m, plain, out));
    // The contents, in order, inside "Role: content" lines.
    out->content.clear();
    size_t from = 0;
    for (const ChatMessage& msg : messages) {
      const size_t at = msg.content.empty() ? std::string::npos : plain.find(msg.content, from);
      if (at == std::string::npos) continue;
      out->content.push_back({at, at + msg.content.size()});
      from = at + msg.content.size();
    }
    return Status::Ok();
  }
  // The template's own text and the contents told apart (backend/chat_text.h).
  ChatText chat;
  CF_RETURN_IF_ERROR(m.RenderChat(messages, &chat));
  out->text = std::move(chat.text);
  out->content = std::move(chat.contents);

  // The special tokens of the template's own text (between the contents), with offsets.
  struct Special {
    size_t begin, end;
    Token token;
  };
  std::vector<Special> specials;
  size_t part_begin = 0;
  for (size_t i = 0; i <= out->content.size(); ++i) {
    const size_t part_end = i < out->content.size() ? out->content[i].first : out->text.size();
    const std::string part = out->text.substr(part_begin, part_end - part_begin);
    std::vector<Token> toks;
    CF_RETURN_IF_ERROR(m.Tokenize(part, false, true, &toks));
    size_t pos = 0;
    for (Token t : toks) {
      if (!m.IsControl(t)) continue;
      const std::string_view piece = m.Piece(t);
      const size_t at = part.find(piece, pos);
      if (piece.empty() || at == std::string::npos) continue;
      specials.push_back({part_begin + at, part_begin + at + piece.size(), t});
      pos = at + piece.size();
    }
    if (i < out->content.size()) part_begin = out->content[i].second;
  }
  // Tokens: plain runs between special tokens, each its own fragment.
  StartWithBos(m, out);
  size_t run = 0;
  for (const Special& s : specials) {
    CF_RETURN_IF_ERROR(AppendFragment(m, out->text, run, s.begin, out));
    out->tokens.push_back(s.token);
    out->ends.push_back(s.end);
    run = s.end;
    out->min_anchor = s.end;
    out->n_fixed = out->tokens.size();
  }
  return AppendFragment(m, out->text, run, out->text.size(), out);
}

Status CheckRequestText(const Request& request) {
  if (request.messages.empty()) {
    CF_RETURN_IF_ERROR(CheckUtf8(request.prompt, "the prompt"));
    if (request.prompt.empty()) return Status::InvalidArgument("the prompt is empty");
    return Status::Ok();
  }
  for (size_t i = 0; i < request.messages.size(); ++i) {
    const ChatMessage& msg = request.messages[i];
    CF_RETURN_IF_ERROR(CheckUtf8(msg.role, "the role of chat message " + std::to_string(i)));
    CF_RETURN_IF_ERROR(CheckUtf8(msg.content, "chat message " + std::to_string(i)));
  }
  return Status::Ok();
}

Status CheckPromptFits(const PromptTokens& p, const LlamaModel& m) {
  if ((int)p.tokens.size() < m.n_ctx()) return Status::Ok();
  return Status::ResourceExhausted("the prompt is " + std::to_string(p.tokens.size()) +
                                   " tokens for " + m.label() + ", longer than its context of " +
                                   std::to_string(m.n_ctx()) + " tokens");
}

RenderedPrompt RenderPrompt(const LlamaModel& m, const Request& request) {
  RenderedPrompt r;
  r.status = request.messages.empty() ? PlainPrompt(m, request.prompt, &r.tokens)
                                      : ChatPrompt(m, request.messages, &r.tokens);
  return r;
}

}  // namespace coolfusion
