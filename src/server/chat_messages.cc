#include "server/chat_messages.h"

#include <set>
#include <string>

namespace coolfusion::server {

namespace {

using nlohmann::json;

// A message's text: a string, null (none), or [{"type": "text", "text": ...}, ...].
bool Content(const json& m, const std::string& at, std::string* out, ApiError* err) {
  out->clear();
  if (!m.contains("content") || m["content"].is_null()) return true;
  const json& c = m["content"];
  if (c.is_string()) {
    *out = c.get<std::string>();
    return true;
  }
  if (!c.is_array())
    return Fail(err, "'" + at + ".content' must be a string or an array", at + ".content");
  for (const json& part : c) {
    // Each check before the next: a wrongly typed "type" is a 400, not an exception.
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string() ||
        part["type"] != "text" || !part.contains("text") || !part["text"].is_string())
      return Fail(err, "only text content parts are supported", at + ".content");
    *out += part["text"].get<std::string>();
  }
  return true;
}

// An assistant message's tool_calls: [{"id", "type": "function", "function": {"name",
// "arguments": a JSON object's text}}].
bool Calls(const json& m, const std::string& at, std::vector<chat::ToolCall>* out,
           std::set<std::string>* ids, ApiError* err) {
  if (!m.contains("tool_calls") || m["tool_calls"].is_null()) return true;
  const json& tc = m["tool_calls"];
  if (!tc.is_array())
    return Fail(err, "'" + at + ".tool_calls' must be an array", at + ".tool_calls");
  for (size_t k = 0; k < tc.size(); ++k) {
    const std::string cat = at + ".tool_calls[" + std::to_string(k) + "]";
    const json& c = tc[k];
    if (!c.is_object() || !c.contains("id") || !c["id"].is_string() ||
        c["id"].get<std::string>().empty())
      return Fail(err, "'" + cat + ".id' must be a non-empty string", cat + ".id");
    if (c.contains("type") && c["type"] != "function")
      return Fail(err, "'" + cat + ".type' must be \"function\"", cat + ".type");
    if (!c.contains("function") || !c["function"].is_object() || !c["function"].contains("name") ||
        !c["function"]["name"].is_string())
      return Fail(err, "'" + cat + ".function.name' must be a string", cat + ".function.name");
    const json& f = c["function"];
    chat::ToolCall call;
    call.id = c["id"].get<std::string>();
    call.name = f["name"].get<std::string>();
    if (f.contains("arguments") && !f["arguments"].is_null()) {
      if (!f["arguments"].is_string())
        return Fail(err, "'" + cat + ".function.arguments' must be a string (JSON)",
                    cat + ".function.arguments");
      call.arguments = f["arguments"].get<std::string>();
      if (json::parse(call.arguments, nullptr, false).is_discarded())
        return Fail(err, "'" + cat + ".function.arguments' is not JSON",
                    cat + ".function.arguments");
    } else {
      call.arguments = "{}";
    }
    ids->insert(call.id);
    out->push_back(std::move(call));
  }
  return true;
}

}  // namespace

bool ParseChatMessages(const json& messages, const chat::ToolSet& tools,
                       std::vector<ChatMessage>* out, ApiError* err) {
  out->clear();
  std::set<std::string> call_ids;    // of the assistant messages so far
  std::vector<std::string> results;  // consecutive tool messages, written as one
  const auto flush_results = [&] {
    if (results.empty()) return;
    out->push_back({"user", chat::ResultsText(results)});
    results.clear();
  };
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return Fail(err, "each message needs a string 'role'", at + ".role");
    if (m.contains("name") && !m["name"].is_null() && !m["name"].is_string())
      return Fail(err, "a message's 'name' must be a string", at + ".name");
    const std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant" && role != "developer" &&
        role != "tool")
      return Fail(err, "unknown message role '" + role.substr(0, 64) + "'", at + ".role");
    if (!m.contains("content") && role != "assistant")
      return Fail(err, "each message needs a string 'content'", at + ".content");
    std::string content;
    if (!Content(m, at, &content, err)) return false;
    if (role == "tool") {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string())
        return Fail(err, "a tool message needs 'tool_call_id', the id of the call it answers",
                    at + ".tool_call_id");
      const std::string id = m["tool_call_id"].get<std::string>();
      if (call_ids.count(id) == 0)
        return Fail(err, "'" + at + ".tool_call_id' answers no earlier assistant tool call",
                    at + ".tool_call_id");
      results.push_back(content);
      continue;
    }
    if (m.contains("tool_calls") && role != "assistant" && !m["tool_calls"].is_null())
      return Fail(err, "only assistant messages have 'tool_calls'", at + ".tool_calls");
    const bool after_results = !results.empty();
    flush_results();
    if (after_results && role == "user") {
      // Results then the user's next words: one user turn, so that roles still alternate
      // (templates such as Mistral's and Llama's refuse two user turns in a row).
      out->back().content += "\n\n" + content;
      continue;
    }
    std::vector<chat::ToolCall> calls;
    if (!Calls(m, at, &calls, &call_ids, err)) return false;
    if (!calls.empty()) content += (content.empty() ? "" : "\n") + chat::CallsText(calls);
    out->push_back({role == "developer" ? "system" : role, content});
  }
  flush_results();

  const std::string instructions = chat::ToolInstructions(tools);
  if (!instructions.empty()) {
    if (!out->empty() && (*out)[0].role == "system") {
      (*out)[0].content += ((*out)[0].content.empty() ? "" : "\n\n") + instructions;
    } else {
      out->insert(out->begin(), {"system", instructions});
    }
  }
  return true;
}

}  // namespace coolfusion::server
