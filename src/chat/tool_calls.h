// Tool calls across an ensemble: OpenAI's `tools`, `tool_choice` and `parallel_tool_calls`
// turned into what every model of the ensemble reads and what the fused answer is held to.
//
// The models' native tool-call syntaxes differ (Qwen and Hermes write <tool_call> tags,
// Llama 3.1 bare JSON, Mistral [TOOL_CALLS]), but fusion writes one text that every model
// scores. So the ensemble uses one envelope, whoever the models are (docs/tool-calls.md):
//
//   <tool_call>
//   {"name": "get_weather", "arguments": {"city": "Paris"}}
//   </tool_call>
//
// (the Hermes format, native to Qwen 2.5/3 and Hermes models). Every model's prompt gets
// the tools and this format in its system message (ToolInstructions); earlier calls and
// their results are written into the conversation in the same envelope (CallsText,
// ResultsText), so every model reads the same history in its own chat template. The
// answer is held to a grammar (AnswerGrammar): free text not containing "<tool_call>",
// then calls whose names are the tools' and whose arguments match each tool's JSON schema
// (llama.cpp's converter, in the sandbox), or calls only when tool_choice requires one.
// tool_call_parser.h reads the answer back.
//
// No HTTP, no engine state; all functions are thread-safe.
#pragma once

#include <coolfusion/status.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace coolfusion::chat {

// The request's limits (OpenAI allows 128 tools).
inline constexpr size_t kMaxTools = 128;
inline constexpr size_t kMaxToolDescriptionBytes = 16 * 1024;
inline constexpr size_t kMaxToolsJsonBytes = 256 * 1024;  // all tools' JSON together
inline constexpr int kMaxParallelCalls = 8;               // calls in one answer

struct Tool {
  std::string name;
  std::string description;
  // A JSON schema object ({"type": "object"} when not given), its keys in the client's
  // order: the models read the properties, and write the arguments, in that order.
  nlohmann::ordered_json parameters;
};

enum class ToolChoice { kAuto, kNone, kRequired, kNamed };

struct ToolSet {
  std::vector<Tool> tools;
  ToolChoice choice = ToolChoice::kAuto;
  std::string named;     // kNamed: the function that must be called
  bool parallel = true;  // more than one call per answer (OpenAI's default)
  bool on() const { return !tools.empty() && choice != ToolChoice::kNone; }
};

// A problem with the request's tools: what is wrong, and the field (OpenAI's `param`:
// "tools", "tools[2].function.parameters", "tool_choice", ...).
struct ToolError {
  std::string message;
  std::string param;
};

// Reads OpenAI's fields (each may be null: not given). tools: [{"type": "function",
// "function": {"name", "description"?, "parameters"?, "strict"?}}]; tool_choice: "auto",
// "none", "required" or {"type": "function", "function": {"name"}}; parallel_tool_calls:
// a boolean. False and *err on anything malformed, over the limits above, a duplicate or
// invalid name (OpenAI's [a-zA-Z0-9_-]{1,64}), or a tool_choice naming no tool.
bool ParseToolSet(const nlohmann::ordered_json* tools, const nlohmann::ordered_json* tool_choice,
                  const nlohmann::ordered_json* parallel_tool_calls, ToolSet* out, ToolError* err);

// The system text that tells a model the tools and the envelope (empty when !set.on()).
std::string ToolInstructions(const ToolSet& set);

// The answer's GBNF (start rule "root"). `convert` turns a JSON schema's text into GBNF
// (JsonSchemaToGrammarIsolated for untrusted schemas); its error is returned as is, and
// when it is InvalidArgument, *bad_tool (if not null) is the index of the first tool whose
// parameters the converter refuses alone (-1 if none does, or if the tools tried alone
// within 2 s pass). REQUIRES: set.on().
Status AnswerGrammar(const ToolSet& set,
                     const std::function<Status(const std::string&, std::string*)>& convert,
                     std::string* gbnf, int* bad_tool = nullptr);

struct ToolCall {
  std::string id;  // "call_..." (OpenAI's)
  std::string name;
  std::string arguments;  // a JSON object's text
};

// Earlier calls as the envelope writes them (an assistant message's text after its
// content). Arguments that are not JSON are written as a JSON string.
std::string CallsText(const std::vector<ToolCall>& calls);
// Consecutive tool results as the user message that carries them back:
// "<tool_response>\n" + result + "\n</tool_response>" for each, joined by "\n".
std::string ResultsText(const std::vector<std::string>& results);

// A new call id, "call_" and 24 random letters and digits.
std::string NewCallId();

}  // namespace coolfusion::chat
