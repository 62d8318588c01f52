#include "server/completion.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "chat/tool_call_parser.h"
#include "server/connection_gate.h"
#include "server/echo.h"
#include "server/httplib_adapter.h"
#include "server/llama_compat.h"
#include "server/openai.h"
#include "server/reasoning.h"

namespace coolfusion::server {

namespace {

using Clock = std::chrono::steady_clock;

// Whether the client of `ex` has gone (or the server is stopping): the segment callback
// and the engine's grammar calls ask, from any thread, one at a time.
std::function<bool()> GoneCheck(Exchange* ex) {
  auto asking = std::make_shared<std::mutex>();
  return [ex, asking] {
    std::lock_guard<std::mutex> lock(*asking);
    return ex != nullptr && ex->ClientGone();
  };
}

// The error of a request the engine refused or failed; one about the request's grammar
// names its field.
ApiError EngineError(const ApiRequest& ar, const Status& st) {
  ApiError e = ErrorFromStatus(st);
  if (st.message().rfind("grammar:", 0) == 0) e.param = ar.grammar_param;
  return e;
}

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What one generation came to.
struct Generated {
  Status status;
  GenerationResult result;
  bool gone = false;  // the client went away (or the server is stopping)
};

// The one generation loop of every completion, streamed or whole. `emit` is given each
// segment's new text (possibly empty) and returns false when the client could not be
// written to. Every quarter second the gate is asked whether the client has gone (without
// writing to it), and inside a long grammar step the engine asks too (at most every 50 ms):
// a client that has gone cancels its generation. The slot is freed as soon as the
// generation ends; the metrics and the request log count it.
Generated Generate(ApiRequest& ar, std::unique_ptr<SlotPool::Lease>& lease, Metrics& metrics,
                   const SegmentCallback& emit) {
  Generated out;
  const auto t0 = Clock::now();
  auto last = t0;
  ar.request.cancelled = GoneCheck(ConnectionGate::Current());
  out.status = lease->ensemble().Generate(
      ar.request,
      [&](const Segment& seg, std::string_view delta) {
        const auto now = Clock::now();
        if (now - last > std::chrono::milliseconds(250)) {
          last = now;
          if (ar.request.cancelled()) out.gone = true;
        }
        if (out.gone) return false;
        if (!emit(seg, delta)) out.gone = true;
        return !out.gone;
      },
      &out.result);
  lease.reset();
  out.gone = out.gone || out.result.stop_reason == StopReason::kCancelled;
  ThisThreadsRequest().tokens = out.result.n_new_tokens;
  metrics.CountGeneration(out.result.n_new_tokens, (int)out.result.segments.size(), Seconds(t0),
                          out.gone);
  return out;
}

// Server-sent events on a response body: "data: <json>\n\n" each. Once a write fails, or
// the client is known gone, nothing more is written.
class EventStream {
 public:
  explicit EventStream(httplib::DataSink& sink) : sink_(sink) {}
  bool Send(const nlohmann::json& j) { return Write("data: " + j.dump() + "\n\n"); }
  bool Write(const std::string& s) {
    if (!gone_ && !sink_.write(s.data(), s.size())) gone_ = true;
    return !gone_;
  }
  void SetGone() { gone_ = true; }
  bool gone() const { return gone_; }

 private:
  httplib::DataSink& sink_;
  bool gone_ = false;
};

// The catch-all for a response body written after its handler returned (httplib's
// exception handler covers only handlers): any exception is logged naming the route and
// ends the stream with an error event (the status line has gone out already).
template <class F>
bool Guarded(httplib::DataSink& sink, const std::string& route, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: POST %s: %s\n", EscapeForLog(route).c_str(),
                 EscapeForLog(e.what()).c_str());
    ApiError err;
    err.status = 500;
    err.type = "server_error";
    err.message = "internal error in POST " + route;
    const std::string s = "data: " + ErrorBody(err) + "\n\n";
    sink.write(s.data(), s.size());
    sink.done();
  }
  return true;
}

// What a streamed answer needs after Answer has returned.
struct StreamArgs {
  std::shared_ptr<ApiRequest> ar;
  std::shared_ptr<std::unique_ptr<SlotPool::Lease>> lease;
  std::string id;
  int64_t created;
  int slot;
  int n_ctx;
  bool native;
};

// A streamed answer's events: the first chunk, one per segment (chat: a thinking block's
// text as delta.reasoning_content), the last with the totals, [DONE] (not for native).
void WriteStream(const LoadedModels& loaded, const StreamArgs& a, Metrics& metrics,
                 httplib::DataSink& sink) {
  const std::vector<std::string>& ids = loaded.ids;
  ApiRequest& ar = *a.ar;
  EventStream events(sink);
  if (!a.native) events.Send(ChunkBody(ar, a.id, a.created, "", true, nullptr, nullptr, ids));
  ReasoningSplitter split(ar.chat ? ar.reasoning_format : ReasoningFormat::kNone, ar.thinking_open);
  chat::ToolCallParser tool_parser;  // with tools: the content's calls
  size_t n_calls = 0;
  std::string reasoning, content, answer;
  std::vector<chat::ToolCall> calls;
  // Reasoning, content and calls of the next piece (or, with piece null, of what was held
  // back: a tag's start that never completed), sent; false when the client has gone.
  const auto send = [&](const std::string_view* piece, const Segment* seg) {
    reasoning.clear();
    content.clear();
    calls.clear();
    if (piece != nullptr) {
      split.Feed(*piece, &reasoning, &content);
    } else {
      split.Finish(&reasoning, &content);
    }
    if (ar.tools.on()) {
      answer.swap(content);
      content.clear();
      tool_parser.Feed(answer, &content, &calls);
      if (piece == nullptr) tool_parser.Finish(&content);
    }
    if (!reasoning.empty() || !content.empty() || (ar.trace && seg != nullptr)) {
      if (!events.Send(
              ChunkBody(ar, a.id, a.created, content, false, nullptr, seg, ids, reasoning)))
        return false;
    }
    if (calls.empty()) return true;
    n_calls += calls.size();
    return events.Send(ToolCallsChunk(ar, a.id, a.created, calls, n_calls - calls.size()));
  };
  const Generated g =
      Generate(ar, *a.lease, metrics, [&](const Segment& seg, std::string_view delta) {
        if (events.gone()) return false;
        if (a.native) return delta.empty() || events.Send(NativeChunk(delta, a.slot));
        return send(&delta, &seg);
      });
  if (!a.native && !events.gone()) send(nullptr, nullptr);
  if (g.gone) events.SetGone();
  if (!g.status.ok()) {
    events.Send(nlohmann::json::parse(ErrorBody(EngineError(ar, g.status))));
  } else if (!events.gone() && a.native) {
    // llama-server's last event: stop true with the totals; no [DONE] follows.
    events.Send(NativeCompletionBody(ar, g.result, "", a.slot, a.n_ctx, ids));
  } else if (!events.gone()) {
    nlohmann::json last =
        ChunkBody(ar, a.id, a.created, "", false,
                  n_calls > 0 ? "tool_calls" : FinishReason(g.result.stop_reason), nullptr, ids);
    if (!g.result.models.empty()) last["coolfusion"] = ModelWeights(ar, g.result, ids);
    last["timings"] = TimingsBody(g.result);
    events.Send(last);
    if (ar.include_usage) events.Send(UsageChunk(ar, a.id, a.created, g.result));
  }
  if (!a.native) events.Write("data: [DONE]\n\n");
  sink.done();
}

}  // namespace

Completions::Completions(const Limits& limits, int queue_timeout_s, Metrics* metrics)
    : limits_(limits),
      queue_timeout_s_(queue_timeout_s),
      metrics_(metrics),
      rng_(std::random_device{}()) {}

std::string Completions::NewId(bool chat) {
  MutexLock lock(&mu_);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s-%016llx", chat ? "chatcmpl" : "cmpl",
                (unsigned long long)rng_());
  return buf;
}

void Completions::AnswerEcho(const LoadedModels& loaded, const ApiRequest& ar,
                             httplib::Response& res) {
  std::unique_ptr<SlotPool::Lease> lease;
  Status st = loaded.pool->Acquire(nullptr, std::chrono::milliseconds(50),
                                   std::chrono::seconds(queue_timeout_s_), &lease,
                                   [](const Ensemble&) { return size_t{0}; });
  if (!st.ok()) return SendError(res, QueueError(st));
  const auto t0 = Clock::now();
  std::vector<TextLogprobsResult> results;
  st = ScorePrompts(lease->ensemble(), ar, GoneCheck(ConnectionGate::Current()), &results);
  lease.reset();
  const bool gone = st.code() == Status::Code::kCancelled;
  const int new_tokens = st.ok() ? (int)results.size() * ar.echo_new_tokens : 0;
  ThisThreadsRequest().tokens = new_tokens;
  metrics_->CountGeneration(new_tokens, 0, Seconds(t0), gone);
  if (gone) {
    res.status = 499;  // nginx's "client closed request": logged, never read
    return;
  }
  if (!st.ok()) {
    ApiError e = ErrorFromStatus(st);
    if (e.status == 400) e.param = "prompt";
    if (ar.prompts.size() > 1)
      e.message = "prompt " + std::to_string(results.size()) + ": " + e.message;
    return SendError(res, e);
  }
  const int only = ar.request.options.only_model;
  const std::vector<std::string>& pieces = loaded.pieces[only >= 0 ? (size_t)only : 0];
  res.set_content(
      EchoBody(ar, results, pieces, NewId(false), (int64_t)std::time(nullptr), loaded.ids).dump(),
      "application/json");
}

void Completions::Answer(const LoadedModels& loaded, const httplib::Request& req,
                         httplib::Response& res, CompletionShape shape) {
  const bool chat = shape == CompletionShape::kChat;
  const bool native = shape == CompletionShape::kNative;
  const std::vector<std::string>& ids = loaded.ids;
  SlotPool& pool = *loaded.pool;
  auto ar = std::make_shared<ApiRequest>();
  ApiError err;
  if (!ParseRequest(req.body, chat, limits_, ids, ar.get(), &err)) return SendError(res, err);
  if (ar->echo) return AnswerEcho(loaded, *ar, res);
  if (chat) {
    // The lead model's template opens a thinking block: its answer starts inside it,
    // unless the tools' grammar holds the answer to calls from the start.
    const int only = ar->request.options.only_model;
    ar->thinking_open = pool.any().info(only >= 0 ? (size_t)only : 0).opens_thinking &&
                        (!ar->tools.on() || ar->tools.choice == chat::ToolChoice::kAuto);
  }
  if (!chat && !ar->prompts.empty() && !ar->prompts[0].tokens.empty()) {
    // Token ids of the lead model (the source model asked for, else the first), as
    // lm-evaluation-harness sends them: spelled as the prompt's text.
    const int only = ar->request.options.only_model;
    Status st = pool.any().Detokenize(only >= 0 ? (size_t)only : 0, ar->prompts[0].tokens,
                                      &ar->request.prompt);
    if (!st.ok()) {
      err = ErrorFromStatus(st);
      err.param = "prompt";
      return SendError(res, err);
    }
  }
  // The prompt is rendered and tokenized here, once per model: the slot choice and the
  // generation read these tokens (Request::prepared).
  Status st = pool.any().Validate(ar->request, &ar->request.prepared);
  if (!st.ok()) return SendError(res, EngineError(*ar, st));
  auto lease = std::make_shared<std::unique_ptr<SlotPool::Lease>>();
  // Of the free slots, the one whose prompt cache holds most of this prompt.
  const Request& request = ar->request;
  st = pool.Acquire(nullptr, std::chrono::milliseconds(50), std::chrono::seconds(queue_timeout_s_),
                    lease.get(), [&request](const Ensemble& e) { return e.CachedPrefix(request); });
  if (!st.ok()) return SendError(res, QueueError(st));
  const std::string id = NewId(chat);
  const int64_t created = (int64_t)std::time(nullptr);
  const int slot = (*lease)->index();
  const int n_ctx = loaded.sources[0].n_ctx;
  if (!ar->stream) {
    // Generated here, before anything is sent, so that the status tells the outcome.
    const Generated g =
        Generate(*ar, *lease, *metrics_, [](const Segment&, std::string_view) { return true; });
    if (g.gone) {
      res.status = 499;  // nginx's "client closed request": logged, never read
      return;
    }
    if (!g.status.ok()) return SendError(res, EngineError(*ar, g.status));
    const nlohmann::json body =
        native ? NativeCompletionBody(*ar, g.result, g.result.text, slot, n_ctx, ids)
               : CompletionBody(*ar, g.result, id, created, ids);
    res.set_content(body.dump(), "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  const StreamArgs args{ar, lease, id, created, slot, n_ctx, native};
  res.set_chunked_content_provider("text/event-stream", [this, &loaded, args, route = req.path](
                                                            size_t, httplib::DataSink& sink) {
    return Guarded(sink, route, [&] { WriteStream(loaded, args, *metrics_, sink); });
  });
}

}  // namespace coolfusion::server
