#include "calibrate.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "eval/choice.h"
#include "eval/dataset.h"
#include "eval_report.h"

namespace coolfusion::cli {
namespace {

using json = nlohmann::json;

constexpr int kStoreVersion = 2;     // 2: a model's entry has its context size
constexpr size_t kStoreModels = 64;  // model entries a store keeps, the newest

std::string Fnv1a64Hex(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, h);
  return buf;
}

// New tokens per row: room for the longest worked answer (tokens are rarely shorter than a
// byte apart on these formats' text), at least 32, at most 512.
int RowTokens(const eval::Dataset& data) {
  size_t longest = 0;
  for (const eval::Example& ex : data.examples) longest = std::max(longest, ex.answer.size());
  return (int)std::clamp<size_t>(longest + 16, 32, 512);
}

// What makes a model's count reusable: the rows and how they are asked (the store's key),
// and the model file itself (its entry's).
json StoreKey(const CommonArgs& a, const std::string& content, size_t rows, int row_tokens) {
  return {{"version", kStoreVersion},
          {"data_fnv1a64", Fnv1a64Hex(content)},
          {"rows", rows},
          {"task", a.task},
          {"row_tokens", row_tokens},
          {"token_healing", (int)a.gen.token_healing}};
}

json ModelKey(const ModelOptions& m) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(m.path, ec);
  const auto mtime = std::filesystem::last_write_time(m.path, ec);
  return {{"path", m.path},
          {"bytes", ec ? -1 : (int64_t)bytes},
          {"mtime", ec ? 0 : (int64_t)mtime.time_since_epoch().count()},
          {"n_ctx", m.n_ctx}};
}

// The store's model entries when its key is `key`; empty otherwise (no store, an
// unreadable one, or one for other rows or settings).
json ReadStore(const std::string& path, const json& key) {
  std::string text;
  if (!ReadFile(path, &text).ok()) return json::array();
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("key") || j["key"] != key || !j.contains("models") ||
      !j["models"].is_array())
    return json::array();
  json kept = json::array();
  for (json& e : j["models"]) {
    if (e.is_object() && e.contains("model") && e.contains("right") &&
        e["right"].is_number_unsigned() && e["right"].get<size_t>() <= key["rows"].get<size_t>())
      kept.push_back(std::move(e));
  }
  return kept;
}

// The count stored for `model`, or -1.
int64_t StoredRight(const json& entries, const json& model) {
  for (const json& e : entries)
    if (e["model"] == model) return (int64_t)e["right"].get<size_t>();
  return -1;
}

}  // namespace

std::string CalibrationStorePath(const std::string& file) { return file + ".weights.json"; }

Status Calibrate(CommonArgs* args, Calibration* out) {
  CommonArgs& a = *args;
  const std::string& file = a.calibrate;
  if (eval::IsChoiceTask(a.task))
    return Status::InvalidArgument("--calibrate takes rows of a generation task, not --task " +
                                   a.task);
  size_t taking_part = 0;
  for (const ModelOptions& m : a.models) taking_part += m.weight > 0;
  eval::Task task;
  CF_RETURN_IF_ERROR(eval::FindTask(a.task, &task));
  std::string content;
  CF_RETURN_IF_ERROR(ReadFile(file, &content));
  eval::Dataset data;
  CF_RETURN_IF_ERROR(eval::ParseDataset(task, content, file, &data));
  if (data.examples.size() > kMaxCalibrationRows)
    return Status::InvalidArgument("--calibrate " + file + " has " +
                                   std::to_string(data.examples.size()) + " rows, more than " +
                                   std::to_string(kMaxCalibrationRows) +
                                   " (a few dozen to a few hundred rows of the task are enough)");
  std::error_code ec;
  if (!a.data.empty() && std::filesystem::equivalent(file, a.data, ec))
    std::fprintf(stderr,
                 "warning: calibrate: %s is also --data: the weights are measured on the rows "
                 "they are then scored on\n",
                 file.c_str());
  Calibration c;
  c.store = CalibrationStorePath(file);
  if (taking_part < 2) {
    std::fprintf(stderr, "calibrate: one model takes part, nothing to weigh\n");
    c.rows = data.examples.size();
    c.right.assign(a.models.size(), 0);
    c.weights.assign(a.models.size(), 1.0);
    *out = std::move(c);
    return Status::Ok();
  }
  const int row_tokens = RowTokens(data);
  const json key = StoreKey(a, content, data.examples.size(), row_tokens);
  json entries = ReadStore(c.store, key);
  c.rows = data.examples.size();
  c.right.assign(a.models.size(), 0);
  std::vector<size_t> to_run;
  for (size_t m = 0; m < a.models.size(); ++m) {
    if (a.models[m].weight == 0) continue;  // sits out: never weighed, never run
    const int64_t r = StoredRight(entries, ModelKey(a.models[m]));
    if (r < 0)
      to_run.push_back(m);
    else
      c.right[m] = (size_t)r;
  }
  c.reused = to_run.empty();
  if (!to_run.empty()) {
    std::unique_ptr<Ensemble> ens;
    CF_RETURN_IF_ERROR(OpenEnsemble(a.models, false, &ens));
    std::fprintf(
        stderr, "calibrate: %zu rows of %s, %zu model%s alone (task %s, up to %d tokens)\n", c.rows,
        file.c_str(), to_run.size(), to_run.size() == 1 ? "" : "s", task.name.c_str(), row_tokens);
    Progress progress(to_run.size() * c.rows, 0);
    size_t done = 0;
    for (size_t m : to_run) {
      size_t out_of_context = 0;
      for (const eval::Example& ex : data.examples) {
        Request req;
        req.prompt = eval::BuildPrompt(ex, {});
        req.options = GenerateOptions();  // greedy, whatever the command samples with
        req.options.token_healing = a.gen.token_healing;
        req.options.max_new_tokens = row_tokens;
        req.options.method = SingleModelMethod();
        req.options.only_model = (int)m;
        req.options.cache_prompt = false;
        req.options.stop.push_back("\nQuestion:");
        GenerationResult res;
        const Status st = ens->Generate(req, nullptr, &res);
        if (!st.ok())
          return Status::InvalidArgument("--calibrate " + ex.where + ": " + st.message());
        c.right[m] +=
            eval::AnswerMatches(task.kind, eval::ExtractAnswer(task.kind, res.text), ex.gold);
        out_of_context += res.stop_reason == StopReason::kContextFull;
        progress.Update(++done, "calibrate " + Basename(a.models[m].path));
      }
      if (out_of_context > 0)
        std::fprintf(stderr,
                     "warning: calibrate: %s ran out of context on %zu of %zu rows (-c): their "
                     "answers are cut and count as wrong\n",
                     Basename(a.models[m].path).c_str(), out_of_context, c.rows);
      json e = {{"model", ModelKey(a.models[m])}, {"right", c.right[m]}};
      entries.push_back(std::move(e));
    }
    // The newest kStoreModels entries.
    if (entries.size() > kStoreModels)
      entries.erase(entries.begin(), entries.end() - (std::ptrdiff_t)kStoreModels);
    const json doc = {{"key", key}, {"models", entries}};
    if (Status st = WriteText(c.store, doc.dump(1) + "\n"); !st.ok()) {
      std::fprintf(stderr,
                   "warning: calibrate: the counts are not stored (%s); they are measured "
                   "again next time\n",
                   st.message().c_str());
      c.store.clear();
    }
  }
  // Smoothed accuracy (one right and one wrong row added), over the best model's.
  double best = 0;
  std::vector<double> acc(a.models.size(), 0);
  for (size_t m = 0; m < a.models.size(); ++m) {
    if (a.models[m].weight == 0) continue;
    acc[m] = ((double)c.right[m] + 1) / ((double)c.rows + 2);
    best = std::max(best, acc[m]);
  }
  for (size_t m = 0; m < a.models.size(); ++m) {
    c.weights.push_back(acc[m] / best);
    if (a.models[m].weight == 0) continue;
    a.models[m].weight *= c.weights[m];
    const bool ran = std::find(to_run.begin(), to_run.end(), m) != to_run.end();
    std::fprintf(stderr, "calibrate: %s %zu of %zu right (%s), weight x %.3f\n",
                 Basename(a.models[m].path).c_str(), c.right[m], c.rows,
                 ran ? "measured" : "stored", c.weights[m]);
  }
  if (!to_run.empty() && !c.store.empty())
    std::fprintf(stderr, "calibrate: counts stored in %s\n", c.store.c_str());
  *out = std::move(c);
  return Status::Ok();
}

}  // namespace coolfusion::cli
