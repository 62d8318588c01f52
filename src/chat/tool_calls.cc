#include "chat/tool_calls.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <set>

namespace coolfusion::chat {

namespace {

// Ordered throughout: a tool's properties keep the client's order.
using json = nlohmann::ordered_json;
using nlohmann::ordered_json;

constexpr std::string_view kCallOpen = "<tool_call>";
constexpr std::chrono::seconds kBadToolSearch{2};

bool Fail(ToolError* err, std::string message, std::string param) {
  err->message = std::move(message);
  err->param = std::move(param);
  return false;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ParseTool(const json& t, size_t i, std::set<std::string>* names, Tool* out, ToolError* err) {
  const std::string at = "tools[" + std::to_string(i) + "]";
  if (!t.is_object()) return Fail(err, "'" + at + "' must be an object", at);
  if (!t.contains("type") || t["type"] != "function")
    return Fail(err, "'" + at + ".type' must be \"function\" (the only tool type here)",
                at + ".type");
  if (!t.contains("function") || !t["function"].is_object())
    return Fail(err, "'" + at + ".function' must be an object", at + ".function");
  const json& f = t["function"];
  const std::string fat = at + ".function";
  if (!f.contains("name") || !f["name"].is_string() || !ValidName(f["name"].get<std::string>()))
    return Fail(err, "'" + fat + ".name' must be 1 to 64 of a-z, A-Z, 0-9, _ and -", fat + ".name");
  out->name = f["name"].get<std::string>();
  if (!names->insert(out->name).second)
    return Fail(err, "two tools are named '" + out->name + "'", fat + ".name");
  if (f.contains("description") && !f["description"].is_null()) {
    if (!f["description"].is_string())
      return Fail(err, "'" + fat + ".description' must be a string", fat + ".description");
    out->description = f["description"].get<std::string>();
    if (out->description.size() > kMaxToolDescriptionBytes)
      return Fail(err,
                  "'" + fat + ".description' is " + std::to_string(out->description.size()) +
                      " bytes; at most " + std::to_string(kMaxToolDescriptionBytes),
                  fat + ".description");
  }
  if (f.contains("strict") && !f["strict"].is_null() && !f["strict"].is_boolean())
    return Fail(err, "'" + fat + ".strict' must be a boolean", fat + ".strict");
  out->parameters = {{"type", "object"}, {"properties", json::object()}};
  if (f.contains("parameters") && !f["parameters"].is_null()) {
    const json& p = f["parameters"];
    if (!p.is_object() || (p.contains("type") && p["type"] != "object"))
      return Fail(err, "'" + fat + ".parameters' must be a JSON schema of an object",
                  fat + ".parameters");
    out->parameters = p;
  }
  return true;
}

// Every "$ref": "#..." in `schema` moved under `prefix` (a JSON pointer), since the
// schema is placed there inside the answer's schema.
void MoveRefs(json* schema, const std::string& prefix) {
  if (schema->is_array()) {
    for (json& x : *schema) MoveRefs(&x, prefix);
  } else if (schema->is_object()) {
    for (auto it = schema->begin(); it != schema->end(); ++it) {
      if (it.key() == "$ref" && it->is_string()) {
        const std::string ref = it->get<std::string>();
        if (ref == "#")
          *it = "#" + prefix;
        else if (ref.rfind("#/", 0) == 0)
          *it = "#" + prefix + ref.substr(1);
      } else {
        MoveRefs(&it.value(), prefix);
      }
    }
  }
}

// The identifiers of a GBNF text (rule names and references), and the text with every
// identifier `from` renamed `to`. String literals, character classes and comments are
// left as they are.
std::string RenameRule(const std::string& gbnf, const std::string& from, const std::string& to,
                       std::set<std::string>* names) {
  std::string out;
  out.reserve(gbnf.size() + 64);
  size_t i = 0;
  const auto is_word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  };
  while (i < gbnf.size()) {
    const char c = gbnf[i];
    if (c == '"' || c == '[') {  // a literal or a class, with backslash escapes
      const char close = c == '"' ? '"' : ']';
      size_t j = i + 1;
      while (j < gbnf.size() && gbnf[j] != close) j += gbnf[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, gbnf.size());
      out.append(gbnf, i, j - i);
      i = j;
    } else if (c == '#') {
      size_t j = gbnf.find('\n', i);
      if (j == std::string::npos) j = gbnf.size();
      out.append(gbnf, i, j - i);
      i = j;
    } else if (is_word(c)) {
      size_t j = i;
      while (j < gbnf.size() && is_word(gbnf[j])) ++j;
      const std::string word = gbnf.substr(i, j - i);
      names->insert(word);
      out += word == from ? to : word;
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

// A GBNF literal of `s` (ASCII here).
std::string Literal(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string ClassChar(char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02X", (unsigned)(unsigned char)c);
  return buf;
}

// Rules `name`0 .. `name`(m-1) for any text that does not contain `pat` (m its length):
// state k has matched k characters of it (Knuth-Morris-Pratt), and may end anywhere.
// Tail-recursive, so llama.cpp's grammar stacks do not grow with the text.
std::string TextWithout(std::string_view pat, const std::string& name) {
  const size_t m = pat.size();
  std::vector<size_t> fail(m, 0);
  for (size_t i = 1, k = 0; i < m; ++i) {
    while (k > 0 && pat[i] != pat[k]) k = fail[k - 1];
    if (pat[i] == pat[k]) ++k;
    fail[i] = k;
  }
  const auto next = [&](size_t k, char c) {
    while (k > 0 && pat[k] != c) k = fail[k - 1];
    return pat[k] == c ? k + 1 : 0;
  };
  const std::set<char> chars(pat.begin(), pat.end());
  std::string out;
  for (size_t k = 0; k < m; ++k) {
    std::string cls, alts;
    for (char c : chars) {
      const size_t to = next(k, c);
      if (to == 0) continue;
      cls += ClassChar(c);  // not to state 0: out of the class
      if (to < m) alts += " | " + Literal(std::string(1, c)) + " " + name + std::to_string(to);
    }
    out += name + std::to_string(k) + " ::= ( [^" + cls + "] " + name + "0" + alts + " )?\n";
  }
  return out;
}

}  // namespace

bool ParseToolSet(const json* tools, const json* tool_choice, const json* parallel_tool_calls,
                  ToolSet* out, ToolError* err) {
  *out = ToolSet();
  if (tools != nullptr && !tools->is_null()) {
    if (!tools->is_array()) return Fail(err, "'tools' must be an array", "tools");
    if (tools->size() > kMaxTools)
      return Fail(err,
                  "'tools' holds " + std::to_string(tools->size()) + " tools; at most " +
                      std::to_string(kMaxTools),
                  "tools");
    std::set<std::string> names;
    for (size_t i = 0; i < tools->size(); ++i) {
      Tool t;
      if (!ParseTool((*tools)[i], i, &names, &t, err)) return false;
      out->tools.push_back(std::move(t));
    }
    if (tools->dump().size() > kMaxToolsJsonBytes)
      return Fail(err, "'tools' is over " + std::to_string(kMaxToolsJsonBytes / 1024) + " KiB",
                  "tools");
  }
  if (parallel_tool_calls != nullptr && !parallel_tool_calls->is_null()) {
    if (!parallel_tool_calls->is_boolean())
      return Fail(err, "'parallel_tool_calls' must be a boolean", "parallel_tool_calls");
    out->parallel = parallel_tool_calls->get<bool>();
  }
  if (tool_choice == nullptr || tool_choice->is_null()) return true;
  if (tool_choice->is_string()) {
    const std::string c = tool_choice->get<std::string>();
    if (c == "auto")
      out->choice = ToolChoice::kAuto;
    else if (c == "none")
      out->choice = ToolChoice::kNone;
    else if (c == "required")
      out->choice = ToolChoice::kRequired;
    else
      return Fail(err, "'tool_choice' must be auto, none, required or a function", "tool_choice");
  } else if (tool_choice->is_object()) {
    const json& c = *tool_choice;
    if (!c.contains("type") || c["type"] != "function" || !c.contains("function") ||
        !c["function"].is_object() || !c["function"].contains("name") ||
        !c["function"]["name"].is_string())
      return Fail(err,
                  "'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                  "tool_choice");
    out->choice = ToolChoice::kNamed;
    out->named = c["function"]["name"].get<std::string>();
    bool known = false;
    for (const Tool& t : out->tools) known = known || t.name == out->named;
    if (!known)
      return Fail(err,
                  "'tool_choice' names '" + out->named.substr(0, 64) + "', which is not in 'tools'",
                  "tool_choice");
  } else {
    return Fail(err, "'tool_choice' must be a string or an object", "tool_choice");
  }
  if ((out->choice == ToolChoice::kRequired) && out->tools.empty())
    return Fail(err, "'tool_choice' is required but 'tools' is empty", "tool_choice");
  return true;
}

std::string ToolInstructions(const ToolSet& set) {
  if (!set.on()) return "";
  std::string s =
      "# Tools\n\nYou may call functions to answer the user. The functions, with their "
      "parameters as JSON schemas:\n<tools>\n";
  for (const Tool& t : set.tools) {
    ordered_json f = ordered_json::object();
    f["name"] = t.name;
    if (!t.description.empty()) f["description"] = t.description;
    f["parameters"] = t.parameters;
    ordered_json tool = ordered_json::object();
    tool["type"] = "function";
    tool["function"] = f;
    s += tool.dump() + "\n";
  }
  s += "</tools>\n\nTo call a function, write a block like this, with the function's name and "
       "its arguments as a JSON object:\n<tool_call>\n{\"name\": \"function name\", "
       "\"arguments\": {}}\n</tool_call>\n";
  if (set.parallel) s += "Write one block per call when you call several.\n";
  s += "The results come back inside <tool_response></tool_response>.";
  if (set.choice == ToolChoice::kRequired) s += "\nAnswer with a function call now.";
  if (set.choice == ToolChoice::kNamed) s += "\nAnswer with a call of " + set.named + " now.";
  return s;
}

Status AnswerGrammar(const ToolSet& set,
                     const std::function<Status(const std::string&, std::string*)>& convert,
                     std::string* gbnf, int* bad_tool) {
  if (bad_tool != nullptr) *bad_tool = -1;
  // A call of tool t as the schema's anyOf[at]: {"name": const, "arguments": its schema},
  // "name" first (the converter writes properties in the schema's order).
  const auto call_schema = [](const Tool& t, size_t at) {
    ordered_json params = t.parameters;
    MoveRefs(&params, "/anyOf/" + std::to_string(at) + "/properties/arguments");
    ordered_json props = ordered_json::object();
    props["name"] = {{"const", t.name}};
    props["arguments"] = std::move(params);
    return ordered_json({{"type", "object"},
                         {"properties", std::move(props)},
                         {"required", ordered_json::array({"name", "arguments"})},
                         {"additionalProperties", false}});
  };
  std::vector<size_t> allowed;  // the tools a call may name, by index
  for (size_t k = 0; k < set.tools.size(); ++k) {
    if (set.choice != ToolChoice::kNamed || set.tools[k].name == set.named) allowed.push_back(k);
  }
  ordered_json any = ordered_json::array();
  for (size_t k : allowed) any.push_back(call_schema(set.tools[k], any.size()));
  std::string call_json;
  const Status st = convert(ordered_json({{"anyOf", any}}).dump(), &call_json);
  if (st.code() == Status::Code::kInvalidArgument && bad_tool != nullptr) {
    // Which tool: each one's schema alone (only when the whole failed), for at most
    // kBadToolSearch, so that 128 tools that each take the converter long cannot hold the
    // request for 128 conversions.
    const auto until = std::chrono::steady_clock::now() + kBadToolSearch;
    for (size_t k : allowed) {
      if (std::chrono::steady_clock::now() > until) break;
      std::string unused;
      const ordered_json alone = {{"anyOf", ordered_json::array({call_schema(set.tools[k], 0)})}};
      if (!convert(alone.dump(), &unused).ok()) {
        *bad_tool = (int)k;
        break;
      }
    }
  }
  CF_RETURN_IF_ERROR(st);

  // The converter's rules, its start renamed; our rule names made distinct from its.
  std::set<std::string> names;
  RenameRule(call_json, "", "", &names);
  std::string prefix = "cf-tool";
  while (true) {
    bool clash = false;
    for (const std::string& n : names) clash = clash || n.rfind(prefix, 0) == 0;
    if (!clash) break;
    prefix += "x";
  }
  std::set<std::string> unused;
  std::string out = RenameRule(call_json, "root", prefix + "-json", &unused);
  if (!out.empty() && out.back() != '\n') out += '\n';

  const std::string call = prefix + "-call", calls = prefix + "-calls";
  out += call + " ::= " + Literal("<tool_call>\n") + " " + prefix + "-json " +
         Literal("\n</tool_call>") + "\n";
  out += calls + " ::= " + call;
  if (set.parallel)
    out +=
        " ( " + Literal("\n") + " " + call + " ){0," + std::to_string(kMaxParallelCalls - 1) + "}";
  out += "\n";
  if (set.choice == ToolChoice::kAuto) {
    out += TextWithout(kCallOpen, prefix + "-text");
    out += "root ::= " + prefix + "-text0 " + calls + "?\n";
  } else {
    out += "root ::= " + calls + "\n";
  }
  *gbnf = std::move(out);
  return Status::Ok();
}

std::string CallsText(const std::vector<ToolCall>& calls) {
  std::string s;
  for (const ToolCall& c : calls) {
    json args = json::parse(c.arguments, nullptr, false);
    if (args.is_discarded()) args = c.arguments;
    if (!s.empty()) s += "\n";
    ordered_json call = ordered_json::object();
    call["name"] = c.name;
    call["arguments"] = std::move(args);
    s += "<tool_call>\n" + call.dump() + "\n</tool_call>";
  }
  return s;
}

std::string ResultsText(const std::vector<std::string>& results) {
  std::string s;
  for (const std::string& r : results) {
    if (!s.empty()) s += "\n";
    s += "<tool_response>\n" + r + "\n</tool_response>";
  }
  return s;
}

std::string NewCallId() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kChars[rng() % (sizeof kChars - 1)];
  return id;
}

}  // namespace coolfusion::chat
