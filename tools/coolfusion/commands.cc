#include "commands.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "chat/tool_call_parser.h"
#include "chat/tool_calls.h"
#include "output.h"

namespace coolfusion::cli {

int Fail(const Status& s) {
  // A full context (a prompt longer than a model's, or one that cannot be allocated): the
  // engine's message names the model and the sizes; the flag that changes them is the
  // CLI's to say (the server says no such thing to a web client).
  const char* hint =
      s.code() == Status::Code::kResourceExhausted ? " (-c sets the context size)" : "";
  std::fprintf(stderr, "error: %s%s\n", s.message().c_str(), hint);
  return 1;
}

Status OpenEnsemble(const std::vector<ModelOptions>& models, bool quiet,
                    std::unique_ptr<Ensemble>* out) {
  std::vector<std::unique_ptr<Ensemble>> lanes;
  CF_RETURN_IF_ERROR(OpenLanes(models, quiet, 1, &lanes));
  *out = std::move(lanes[0]);
  return Status::Ok();
}

Status OpenLanes(const std::vector<ModelOptions>& models, bool quiet, int lanes,
                 std::vector<std::unique_ptr<Ensemble>>* lanes_out) {
  // Progress is for people: shown on a terminal only, so that scripts see just errors.
  if (!quiet && isatty(STDERR_FILENO)) {
    for (size_t i = 0; i < models.size(); ++i) {
      std::fprintf(stderr, "loading model %zu/%zu: %s\n", i + 1, models.size(),
                   models[i].path.c_str());
    }
  }
  Status st = Ensemble::OpenLanes(models, lanes, lanes_out);
  if (!st.ok()) return st;
  const std::unique_ptr<Ensemble>* out = &(*lanes_out)[0];
  // What was asked and cannot be done here (-ngl without a GPU): always said, once.
  for (const std::string& w : (*out)->LoadWarnings())
    std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (quiet || !isatty(STDERR_FILENO)) return st;  // for people, as the progress
  for (size_t i = 0; i < (*out)->size(); ++i) {
    const ModelInfo& m = (*out)->info(i);
    if (m.n_ctx_train > 0 && m.n_ctx > m.n_ctx_train)
      std::fprintf(stderr,
                   "warning: %s was trained on a context of %d tokens; using %d (-c sets it)\n",
                   m.label.c_str(), m.n_ctx_train, m.n_ctx);
  }
  return st;
}

namespace {

// Chat's Ctrl-C: during an answer it stops the answer (the chat goes on); at the prompt it
// ends the chat, as llama-cli does.
std::atomic<bool> g_answering{false};
std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) {
  if (g_answering.load()) {
    g_interrupted.store(true);
    return;
  }
  const char nl = '\n';
  (void)!write(STDERR_FILENO, &nl, 1);
  _exit(130);
}

// Whether stdout and stderr are one file (the same terminal, or `>f 2>&1`): then a line
// written to stderr lands inside the streamed text.
bool OutputsShareAFile() {
  struct stat out, err;
  return fstat(STDOUT_FILENO, &out) == 0 && fstat(STDERR_FILENO, &err) == 0 &&
         out.st_dev == err.st_dev && out.st_ino == err.st_ino;
}

Status RunAndPrint(Ensemble& e, const Request& req, const CommonArgs& a, GenerationResult* r) {
  size_t step = 0;
  // Each --trace line starts on a fresh line: where the streamed text shares stderr's
  // file and has not just ended a line, a newline goes first.
  const bool shared = a.trace && !a.json && OutputsShareAFile();
  bool at_line_start = true;
  auto trace = [&](const std::string& line) {
    if (shared && !at_line_start) std::fputc('\n', stderr);
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    at_line_start = true;
  };
  auto cb = [&](const Segment& seg, std::string_view delta) {
    if (g_interrupted.load()) return false;
    if (!a.json && !delta.empty()) {
      std::fwrite(delta.data(), 1, delta.size(), stdout);
      std::fflush(stdout);
      at_line_start = delta.back() == '\n';
    }
    if (a.trace && step == 0) trace(WeightsLine(e, r->models));
    if (a.trace) trace(TraceLine(step++, seg));
    return true;
  };
  Status st = e.Generate(req, cb, r);
  if (st.ok() && a.trace && step == 0) trace(WeightsLine(e, r->models));
  return st;
}

void PrintSummary(const Ensemble& e, const Request& req, const GenerationResult& r) {
  for (const auto& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  std::string fused;
  if (r.counters.positions > 0) {
    fused = " | fused at " + std::to_string(r.counters.fused_positions) + " of " +
            std::to_string(r.counters.positions) + " positions";
  }
  std::fprintf(stderr,
               "\n[%s: %zu segments, %d new tokens, stop: %s | %.1f ms total (%.1f generate, "
               "%.1f score, %.1f in llama_decode) | %.2f tokens/s%s]\n",
               e.size() > 1 ? MethodName(req.options.method) : SingleModelMethod(),
               r.segments.size(), r.n_new_tokens, StopReasonName(r.stop_reason), r.timings.total_ms,
               r.timings.generate_ms, r.timings.score_ms, r.timings.decode_ms,
               r.timings.total_ms > 0 ? r.n_new_tokens * 1000.0 / r.timings.total_ms : 0.0,
               fused.c_str());
  const std::string took = ParticipationLine(e, r);
  if (!took.empty()) std::fprintf(stderr, "[%s]\n", took.c_str());
}

}  // namespace

int CmdGenerate(const CommonArgs& a) {
  if (a.models.empty()) return Fail(Status::InvalidArgument("no model given (use -m FILE)"));
  if (!a.prompt_given)
    return Fail(Status::InvalidArgument("no prompt given (use -p TEXT or -f FILE)"));
  std::unique_ptr<Ensemble> e;
  Status st = OpenEnsemble(a.models, a.json, &e);
  if (!st.ok()) return Fail(st);
  Request req;
  req.prompt = a.prompt;
  req.options = a.gen;
  if (a.models.size() == 1) req.options.method = SingleModelMethod();
  GenerationResult r;
  st = RunAndPrint(*e, req, a, &r);
  if (!st.ok()) return Fail(st);
  if (a.json) {
    std::printf("%s\n", ResultJson(*e, req.options, r).dump(2).c_str());
  } else {
    std::printf("\n");
    std::fflush(stdout);
    PrintSummary(*e, req, r);
  }
  return 0;
}

namespace {

constexpr int kMaxToolRounds = 8;

// --tools FILE: OpenAI's tools array, or an object with "tools" (and "tool_choice",
// "parallel_tool_calls"); *grammar is the answer's (chat/tool_calls.h).
Status LoadTools(const std::string& path, chat::ToolSet* tools, std::string* grammar) {
  std::string text;
  CF_RETURN_IF_ERROR(ReadFile(path, &text));
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument("--tools " + path + ": not JSON");
  const nlohmann::ordered_json* list = &j;
  const nlohmann::ordered_json* choice = nullptr;
  const nlohmann::ordered_json* parallel = nullptr;
  if (j.is_object()) {
    list = j.contains("tools") ? &j["tools"] : nullptr;
    choice = j.contains("tool_choice") ? &j["tool_choice"] : nullptr;
    parallel = j.contains("parallel_tool_calls") ? &j["parallel_tool_calls"] : nullptr;
  }
  if (list == nullptr || !list->is_array() || list->empty())
    return Status::InvalidArgument("--tools " + path +
                                   ": expected a non-empty JSON array of tools, or an object "
                                   "with one as \"tools\"");
  chat::ToolError err;
  if (!chat::ParseToolSet(list, choice, parallel, tools, &err))
    return Status::InvalidArgument("--tools " + path + ": " + err.message);
  if (!tools->on()) return Status::Ok();
  int bad = -1;
  const Status st = chat::AnswerGrammar(*tools, JsonSchemaToGrammarIsolated, grammar, &bad);
  if (!st.ok() && bad >= 0)
    return Status::InvalidArgument("--tools " + path + ": tool " + tools->tools[bad].name + ": " +
                                   st.message());
  return st;
}

}  // namespace

int CmdChat(const CommonArgs& a) {
  if (a.models.empty()) return Fail(Status::InvalidArgument("no model given (use -m FILE)"));
  std::unique_ptr<Ensemble> e;
  Status st = OpenEnsemble(a.models, false, &e);
  if (!st.ok()) return Fail(st);
  {
    // The options every turn would refuse (--token-healing on, a gate for a method
    // without one, ...) are refused once, before the first message.
    Request probe;
    probe.messages = {{"user", "hi"}};
    probe.options = a.gen;
    if (a.models.size() == 1) probe.options.method = SingleModelMethod();
    if (!(st = e->Validate(probe)).ok()) return Fail(st);
  }
  for (size_t i = 0; i < e->size(); ++i) {
    std::fprintf(stderr, "%s: %s chat template\n", e->info(i).label.c_str(),
                 e->info(i).has_chat_template ? "its own GGUF"
                                              : "no GGUF template; plain 'Role: text' lines for");
  }
  static const char kHelp[] =
      "  /help   this list\n"
      "  /reset  start a new conversation (the system prompt stays)\n"
      "  /exit   quit (also /quit, end of input, or Ctrl-C at the prompt)\n"
      "  Ctrl-C while an answer is written stops that answer; the chat goes on\n";
  // --tools: tool_choice holds for a turn's first answer; after results, the models choose.
  chat::ToolSet tools, then;
  std::string first_grammar, then_grammar;
  if (!a.tools.empty()) {
    st = LoadTools(a.tools, &tools, &first_grammar);
    if (st.ok() && !a.gen.grammar.empty())
      st = Status::InvalidArgument(
          "--tools and --grammar/--json-schema both constrain the answer: give one");
    if (st.ok() && tools.on()) {
      then = tools;
      then.choice = chat::ToolChoice::kAuto;
      st = chat::AnswerGrammar(then, JsonSchemaToGrammarIsolated, &then_grammar);
    }
    if (!st.ok()) return Fail(st);
    std::fprintf(stderr, "%zu tools from %s%s\n", tools.tools.size(), a.tools.c_str(),
                 tools.on() ? "; the models may call them" : " (tool_choice none)");
  }
  std::fprintf(stderr, "type a message, or /help\n");
  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  CommonArgs args = a;
  for (size_t i = 0; i < e->size(); ++i) {
    // A model without a template knows no end of turn: stop at the next "User:" line.
    if (!e->info(i).has_chat_template) {
      args.gen.stop.push_back("\nUser:");
      break;
    }
  }
  std::string system = a.system;
  const std::string instructions = chat::ToolInstructions(tools);
  if (!instructions.empty()) system += (system.empty() ? "" : "\n\n") + instructions;
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system});
  std::string line;
  while (true) {
    std::fprintf(stderr, "> ");
    std::fflush(stderr);
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/help") {
      std::fputs(kHelp, stderr);
      continue;
    }
    if (line == "/reset") {
      messages.resize(system.empty() ? 0 : 1);
      std::fprintf(stderr, "conversation cleared%s\n",
                   system.empty() ? "" : " (the system prompt stays)");
      continue;
    }
    if (line.size() > 1 && line[0] == '/' && line.find(' ') == std::string::npos) {
      std::fprintf(stderr, "unknown command %s (/help lists them)\n", line.c_str());
      continue;
    }
    if (line.empty()) continue;
    const size_t turn_start = messages.size();
    messages.push_back({"user", line});
    // An answer, and while it calls tools (at most kMaxToolRounds times), their results
    // read from the terminal and the next answer.
    for (int round = 0;; ++round) {
      Request req;
      req.messages = messages;
      req.options = args.gen;
      if (tools.on()) req.options.grammar = round == 0 ? first_grammar : then_grammar;
      if (a.models.size() == 1) req.options.method = SingleModelMethod();
      GenerationResult r;
      g_interrupted.store(false);
      g_answering.store(true);
      st = RunAndPrint(*e, req, args, &r);
      g_answering.store(false);
      if (!st.ok()) {
        Fail(st);
        messages.resize(turn_start);
        break;
      }
      std::printf("\n");
      std::fflush(stdout);
      if (g_interrupted.load()) std::fprintf(stderr, "[answer stopped]\n");
      for (const auto& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
      const std::string took = ParticipationLine(*e, r);
      if (!took.empty()) std::fprintf(stderr, "[%s]\n", took.c_str());
      // Random or cut-off answers may end inside a character; the next turn's prompt must
      // be valid UTF-8, so the history keeps the text repaired (U+FFFD), as a client would.
      messages.push_back({"assistant", ToValidUtf8(r.text)});
      if (!tools.on() || g_interrupted.load()) break;
      std::string content;
      std::vector<chat::ToolCall> calls;
      chat::ParseToolCalls(messages.back().content, &content, &calls);
      if (calls.empty()) break;
      if (round + 1 >= kMaxToolRounds) {
        std::fprintf(stderr, "[%d rounds of tool calls: the answer stops here]\n", kMaxToolRounds);
        break;
      }
      std::vector<std::string> results;
      for (const chat::ToolCall& c : calls) {
        std::fprintf(stderr, "[tool call %s: %s(%s)]\nresult of %s> ", c.id.c_str(), c.name.c_str(),
                     c.arguments.c_str(), c.name.c_str());
        std::fflush(stderr);
        std::string result;
        if (!std::getline(std::cin, result)) break;
        results.push_back(ProcessEscapes(result));
      }
      if (results.size() < calls.size()) break;  // end of input
      messages.back().content = content + (content.empty() ? "" : "\n") + chat::CallsText(calls);
      messages.push_back({"user", chat::ResultsText(results)});
    }
  }
  return 0;
}

int CmdBoundaries(const CommonArgs& a) {
  if (a.models.empty())
    return Fail(Status::InvalidArgument("no model given (use -m FILE; vocab-only GGUFs work)"));
  std::string text = a.prompt;
  if (!a.text_file.empty()) {
    Status st = ReadFile(a.text_file, &text);
    if (!st.ok()) return Fail(st);
  } else if (!a.prompt_given) {
    return Fail(Status::InvalidArgument("no text given (use --text-file FILE or -p TEXT)"));
  }
  std::vector<ModelOptions> models = a.models;
  for (auto& m : models) m.vocab_only = true;
  std::unique_ptr<Ensemble> e;
  Status st = OpenEnsemble(models, true, &e);
  if (!st.ok()) return Fail(st);
  std::vector<size_t> b;
  st = e->CommonBoundaries(text, &b);
  if (!st.ok()) return Fail(st);

  // Vocabulary statistics: sizes, pairwise shared token strings, tokens of this text.
  std::vector<std::set<std::string>> vocab(e->size());
  nlohmann::json models_j = nlohmann::json::array();
  for (size_t i = 0; i < e->size(); ++i) {
    std::vector<std::string> pieces;
    st = e->VocabPieces(i, &pieces);
    if (!st.ok()) return Fail(st);
    vocab[i] = std::set<std::string>(pieces.begin(), pieces.end());
    std::vector<int32_t> toks;
    st = e->Tokenize(i, text, &toks);
    if (!st.ok()) return Fail(st);
    models_j.push_back({{"path", e->info(i).path},
                        {"tokenizer", e->info(i).tokenizer},
                        {"n_vocab", e->info(i).n_vocab},
                        {"text_tokens", toks.size()}});
  }
  nlohmann::json overlap = nlohmann::json::array();
  for (size_t i = 0; i < e->size(); ++i) {
    for (size_t j = i + 1; j < e->size(); ++j) {
      size_t shared = 0;
      for (const auto& p : vocab[i]) shared += vocab[j].count(p);
      const size_t uni = vocab[i].size() + vocab[j].size() - shared;
      overlap.push_back({{"models", {i, j}},
                         {"shared_pieces", shared},
                         {"jaccard", uni ? (double)shared / uni : 0.0}});
    }
  }
  if (a.json) {
    nlohmann::json j;
    j["boundaries"] = b;
    j["text_bytes"] = text.size();
    j["models"] = models_j;
    j["vocab_overlap"] = overlap;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%zu common word boundaries in %zu bytes:", b.size(), text.size());
    for (size_t x : b) std::printf(" %zu", x);
    std::printf("\n");
    size_t prev = 0;
    std::string seg;
    for (size_t x : b) {
      seg.append(1, '[').append(text, prev, x - prev).append(1, ']');
      prev = x;
    }
    std::printf("%s\n", seg.c_str());
    for (const auto& o : overlap) {
      std::printf("%s and %s share %zu token strings (Jaccard %.3f)\n",
                  e->info(o["models"][0].get<size_t>()).label.c_str(),
                  e->info(o["models"][1].get<size_t>()).label.c_str(),
                  o["shared_pieces"].get<size_t>(), o["jaccard"].get<double>());
    }
  }
  return 0;
}

}  // namespace coolfusion::cli
