#include "backend/chat_text.h"

#include <string_view>

namespace coolfusion {

namespace {

constexpr std::string_view kOpen = "\xEE\x80\x80";   // U+E000
constexpr std::string_view kClose = "\xEE\x80\x81";  // U+E001

std::string Marker(size_t i) {
  return std::string(kOpen) + std::to_string(i) + std::string(kClose);
}

// The marked rendering cut at its markers: text[0], content of message[0], text[1], ...,
// text[message.size()].
struct Cut {
  std::vector<std::string_view> text;
  std::vector<size_t> message;
};

Cut CutAtMarkers(std::string_view marked, size_t n_messages) {
  Cut cut;
  size_t from = 0, scan = 0;
  while (true) {
    const size_t at = marked.find(kOpen, scan);
    if (at == std::string_view::npos) break;
    size_t i = 0, p = at + kOpen.size();
    const size_t digits = p;
    while (p < marked.size() && marked[p] >= '0' && marked[p] <= '9' && p - digits < 9)
      i = i * 10 + (marked[p++] - '0');
    if (p == digits || i >= n_messages || marked.substr(p, kClose.size()) != kClose) {
      scan = at + kOpen.size();  // not one of ours: the template's own text
      continue;
    }
    cut.text.push_back(marked.substr(from, at - from));
    cut.message.push_back(i);
    from = scan = p + kClose.size();
  }
  cut.text.push_back(marked.substr(from));
  return cut;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// The ways a template may place a content: as written, stripped at both ends, at the end,
// at the start (Jinja's trim, rstrip, lstrip).
std::vector<std::string_view> Placements(std::string_view c) {
  size_t b = 0, e = c.size();
  while (b < e && IsSpace(c[b])) ++b;
  while (e > b && IsSpace(c[e - 1])) --e;
  size_t r = c.size();
  while (r > 0 && IsSpace(c[r - 1])) --r;
  return {c, c.substr(b, e - b), c.substr(0, r), c.substr(b)};
}

bool At(std::string_view text, size_t pos, std::string_view s) {
  return pos <= text.size() && text.substr(pos, s.size()) == s;
}

}  // namespace

std::vector<ChatMessage> MarkContents(const std::vector<ChatMessage>& messages, bool skip_empty) {
  std::vector<ChatMessage> marked = messages;
  for (size_t i = 0; i < marked.size(); ++i) {
    if (skip_empty && marked[i].content.empty()) continue;
    marked[i].content = Marker(i);
  }
  return marked;
}

bool SplitMarked(const std::string& marked, const std::vector<ChatMessage>& messages,
                 const std::string* rendered, ChatText* out) {
  const Cut cut = CutAtMarkers(marked, messages.size());
  const size_t n = cut.message.size();
  if (rendered != nullptr) {
    const std::string_view r = *rendered;
    std::vector<std::pair<size_t, size_t>> spans;
    size_t pos = 0;
    bool ok = true;
    for (size_t j = 0; j < n && ok; ++j) {
      ok = At(r, pos, cut.text[j]);
      pos += cut.text[j].size();
      if (!ok) break;
      ok = false;
      for (std::string_view c : Placements(messages[cut.message[j]].content)) {
        const size_t end = pos + c.size();
        // The template's text after it must follow; after the last, nothing else.
        if (!At(r, pos, c) || !At(r, end, cut.text[j + 1])) continue;
        if (j + 1 == n && end + cut.text[n].size() != r.size()) continue;
        spans.push_back({pos, end});
        pos = end;
        ok = true;
        break;
      }
    }
    if (ok && (n > 0 || r == cut.text[0])) {
      out->text = *rendered;
      out->contents = std::move(spans);
      return true;
    }
  }
  out->text.clear();
  out->contents.clear();
  for (size_t j = 0; j < n; ++j) {
    out->text += cut.text[j];
    const std::string& c = messages[cut.message[j]].content;
    out->contents.push_back({out->text.size(), out->text.size() + c.size()});
    out->text += c;
  }
  out->text += cut.text[n];
  return rendered == nullptr;
}

}  // namespace coolfusion
