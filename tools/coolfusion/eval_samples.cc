#include "eval_samples.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "base/utf8.h"

#ifndef COOLFUSION_VERSION_STRING
#define COOLFUSION_VERSION_STRING "unknown"
#endif

namespace coolfusion::cli {
namespace {

using nlohmann::json;

constexpr int kFormat = 1;                    // "coolfusion_eval_samples": the header's mark
constexpr int64_t kSyncEveryMs = 1000;        // Append syncs at most this often
constexpr std::streamsize kSample = 1 << 20;  // bytes of a model hashed at each of 3 places

// FNV-1a, 64 bits: a fingerprint, not a defence against someone forging a file.
struct Fnv1a64 {
  uint64_t h = 14695981039346656037ull;
  void Add(const char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
    return buf;
  }
};

// {"file", "bytes", "content"}: the content hash is of the whole file, or, `sampled` (a model
// of gigabytes), of its first, middle and last MiB.
Status FileJson(const std::string& path, bool sampled, const std::string& what, json* out) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return Status::NotFound(what + " not found: " + path);
  const std::streamoff size = f.tellg();
  Fnv1a64 h;
  std::vector<char> buf((size_t)kSample);
  auto hash_from = [&](std::streamoff at, std::streamoff n) {
    f.clear();
    f.seekg(at);
    while (n > 0 && f) {
      f.read(buf.data(), (std::streamsize)std::min<std::streamoff>(n, kSample));
      h.Add(buf.data(), (size_t)f.gcount());
      n -= f.gcount();
      if (f.gcount() == 0) break;
    }
  };
  if (!sampled || size <= 3 * kSample) {
    hash_from(0, size);
  } else {
    hash_from(0, kSample);
    hash_from(size / 2 - kSample / 2, kSample);
    hash_from(size - kSample, kSample);
  }
  if (f.bad()) return Status::Internal("cannot read " + what + " " + path);
  *out = {{"file", path}, {"bytes", size}, {"content", h.Hex()}};
  return Status::Ok();
}

const char* SwitchName(Switch s) {
  return s == Switch::kOn ? "on" : s == Switch::kOff ? "off" : "default";
}

// A value as the flag takes it: a list of names comma-separated, others as JSON.
std::string Show(const json& v) {
  std::string s;
  bool names = v.is_array() && !v.empty();
  for (const json& x : v.is_array() ? v : json::array()) names = names && x.is_string();
  if (names) {
    for (const json& x : v) s += (s.empty() ? "" : ",") + x.get<std::string>();
  } else {
    s = v.dump();
  }
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

void Diff(const std::string& name, const json& was, const json& now,
          std::vector<std::string>* out) {
  if (was == now) return;
  // A file (FileJson): its path, else that its content changed; then any other key.
  if (was.is_object() && now.is_object() && was.contains("file") && now.contains("file")) {
    if (was["file"] != now["file"])
      out->push_back(name + ": " + Show(was["file"]) + " in the file, " + Show(now["file"]) +
                     " now");
    else if (was.value("bytes", json()) != now.value("bytes", json()) ||
             was.value("content", json()) != now.value("content", json()))
      out->push_back(name + " " + now["file"].get<std::string>() + ": its content changed since");
    json a = was, b = now;
    for (const char* k : {"file", "bytes", "content"}) a.erase(k), b.erase(k);
    Diff(name, a, b, out);
    return;
  }
  if (was.is_object() && now.is_object()) {
    json keys = was;
    keys.update(now);
    for (auto it = keys.begin(); it != keys.end(); ++it) {
      const json none;
      Diff(name + (name.empty() ? "" : " ") + it.key(),
           was.contains(it.key()) ? was[it.key()] : none,
           now.contains(it.key()) ? now[it.key()] : none, out);
    }
    return;
  }
  const bool objects = was.is_array() && now.is_array() && !was.empty() && !now.empty() &&
                       was[0].is_object() && now[0].is_object();
  if (objects && was.size() != now.size()) {
    out->push_back(name + ": " + std::to_string(was.size()) + " in the file, " +
                   std::to_string(now.size()) + " now");
  } else if (objects) {
    for (size_t i = 0; i < was.size(); ++i)
      Diff(name + " " + std::to_string(i + 1), was[i], now[i], out);
  } else if (name.size() >= 7 && name.compare(name.size() - 7, 7, "content") == 0) {
    out->push_back(name + " changed");
  } else {
    out->push_back(name + ": " + Show(was) + " in the file, " + Show(now) + " now");
  }
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool ReadSampleRow(const json& j, RowKey* key, RowResult* r, std::string* why) {
  try {
    *key = {RunKey(j.at("run").get<std::string>(), j.at("models").get<std::vector<std::string>>()),
            j.at("doc_id").get<size_t>()};
    r->error = j.value("error", "");
    if (j.contains("scores")) {  // multiple choice
      r->choice_scores = j.at("scores");
      if (!r->choice_scores.is_array()) throw std::runtime_error("\"scores\" is not an array");
      const json& c = j.at("counters");
      r->decode_calls = c.at("decode_calls").get<int64_t>();
      r->tokens_decoded = c.at("tokens_decoded").get<int64_t>();
      r->sat_out = c.at("sat_out").get<int64_t>();
      r->model_weights = j.value("model_weights", json());
      r->seconds = j.at("seconds").get<double>();
      return true;
    }
    r->output = j.at("output").get<std::string>();
    if (j.contains("output_hex")) {
      const std::string hex = j["output_hex"].get<std::string>();
      r->output.clear();
      for (size_t i = 0; i + 1 < hex.size(); i += 2)
        r->output += (char)std::stoi(hex.substr(i, 2), nullptr, 16);
    }
    r->new_tokens = j.at("n_new_tokens").get<int64_t>();
    const json& c = j.at("counters");
    r->decode_calls = c.at("decode_calls").get<int64_t>();
    r->tokens_decoded = c.at("tokens_decoded").get<int64_t>();
    r->positions = c.at("positions").get<int64_t>();
    r->fused_positions = c.at("fused_positions").get<int64_t>();
    r->sat_out = c.at("sat_out").get<int64_t>();
    r->model_weights = j.value("model_weights", json());
    r->seconds = j.at("seconds").get<double>();
    return true;
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
}

Status EvalSettings(const CommonArgs& a, const std::vector<std::string>& methods,
                    const std::vector<ScoreRule>& scores, json* out) {
  const GenerateOptions& g = a.gen;
  json models = json::array();
  for (const ModelOptions& m : a.models) {
    json f;
    CF_RETURN_IF_ERROR(FileJson(m.path, true, "model file", &f));
    f["ctx"] = m.n_ctx;
    f["weight"] = m.weight;
    models.push_back(std::move(f));
  }
  json data, train;
  CF_RETURN_IF_ERROR(FileJson(a.data, false, "dataset", &data));
  if (a.few_shot > 0) CF_RETURN_IF_ERROR(FileJson(a.train, false, "--train file", &train));
  json score_names = json::array();
  for (ScoreRule r : scores) score_names.push_back(ScoreRuleName(r));
  Fnv1a64 grammar;
  grammar.Add(g.grammar.data(), g.grammar.size());
  const SamplingOptions& s = g.sampling;
  const ScoringOptions& sc = g.scoring;
  const PeerOptions& p = g.peer;
  *out = {{"coolfusion", COOLFUSION_VERSION_STRING},
          {"-m", models},
          {"--data", data},
          {"--task", a.task},
          {"--limit", a.limit},
          {"--few-shot", a.few_shot},
          {"--train", train},
          {"--method", methods},
          {"--score", score_names},
          {"-n", g.max_new_tokens},
          {"--temp", s.temperature},
          {"--top-p", s.top_p},
          {"--top-k", s.top_k},
          {"--min-p", s.min_p},
          {"--repeat-penalty", s.repeat_penalty},
          {"--presence-penalty", s.presence_penalty},
          {"--frequency-penalty", s.frequency_penalty},
          {"--repeat-last-n", s.repeat_last_n},
          {"--seed", s.seed},
          {"--stop", g.stop},
          {"--grammar", g.grammar.empty() ? json() : json{{"content", grammar.Hex()}}},
          {"--max-segment-tokens", g.max_segment_tokens},
          {"--prompt-weights", SwitchName(sc.prompt_weights)},
          {"--prompt-temp", sc.prompt_temp},
          {"--prompt-evidence", sc.prompt_evidence},
          {"--sit-out", sc.sit_out},
          {"--word-end", SwitchName(sc.word_end)},
          {"--per-word", SwitchName(sc.per_word)},
          {"--confidence", SwitchName(sc.confidence)},
          {"--sweetspan-ratio", sc.sweetspan_ratio},
          {"--gate", p.gate > 0 ? json(p.gate) : json()},  // null: each method's default
          {"unite_top_k", p.unite_top_k},
          {"adafuse_margin", p.adafuse_margin},
          {"adafuse_words", p.adafuse_words},
          {"adafuse_beams", p.adafuse_beams},
          {"safe_draft_tokens", p.safe_draft_tokens}};
  // Named only when set, so that the files of runs before these options still resume.
  if (!a.prompt_suffix.empty()) (*out)["--prompt-suffix"] = a.prompt_suffix;
  if (a.answer_prefix > 0) (*out)["--answer-prefix"] = a.answer_prefix;
  if (g.token_healing != Switch::kDefault) (*out)["--token-healing"] = SwitchName(g.token_healing);
  return Status::Ok();
}

std::string SettingsDiff(const json& was, const json& now) {
  std::vector<std::string> d;
  Diff("", was, now, &d);
  std::string s;
  for (size_t i = 0; i < d.size() && i < 3; ++i) s += (i ? "; " : "") + d[i];
  if (d.size() > 3) s += "; and " + std::to_string(d.size() - 3) + " more";
  return s;
}

std::string RunKey(const std::string& label, const std::vector<std::string>& models) {
  std::string k = label;
  for (const std::string& m : models) k += '\n' + m;
  return k;
}

json SampleLine(const RowContext& c, const RowResult& r) {
  const std::string output = ToValidUtf8(r.output);
  json line = {{"doc_id", c.doc_id},
               {"where", c.where},
               {"run", c.run},
               {"method", c.method},
               {"models", c.models},
               {"prompt", ToValidUtf8(c.prompt)},
               {"output", output},
               {"target", c.target},
               {"predicted", ToValidUtf8(c.predicted)},
               {"correct", c.correct},
               {"filtered_resps",
                {{"strict-match", ToValidUtf8(c.harness.strict)},
                 {"flexible-extract", ToValidUtf8(c.harness.flexible)}}},
               {"exact_match",
                {{"strict-match", c.harness.strict_correct ? 1 : 0},
                 {"flexible-extract", c.harness.flexible_correct ? 1 : 0}}},
               {"n_new_tokens", r.new_tokens},
               {"counters",
                {{"decode_calls", r.decode_calls},
                 {"tokens_decoded", r.tokens_decoded},
                 {"positions", r.positions},
                 {"fused_positions", r.fused_positions},
                 {"sat_out", r.sat_out}}},
               {"seconds", r.seconds}};
  if (output != r.output) {  // the exact bytes, so that a resumed row reads what was written
    std::string hex;
    char b[3];
    for (unsigned char ch : r.output) std::snprintf(b, sizeof b, "%02x", ch), hex += b;
    line["output_hex"] = hex;
  }
  if (!c.score.empty()) {
    line["score"] = c.score;
    line["model_weights"] = r.model_weights.is_null() ? json::array() : r.model_weights;
  }
  if (!r.error.empty()) line["error"] = ToValidUtf8(r.error);
  return line;
}

json ChoiceSampleLine(const ChoiceRowContext& c, const RowResult& r) {
  static const char* const kMetrics[] = {"acc", "acc_norm", "acc_rule"};
  const size_t metrics = c.score.empty() ? 2 : 3;
  json choices = json::array(), predicted = json::object();
  for (const std::string& s : c.choices) choices.push_back(ToValidUtf8(s));
  json line = {{"doc_id", c.doc_id},
               {"where", c.where},
               {"run", c.run},
               {"method", c.method},
               {"models", c.models},
               {"prompt", ToValidUtf8(c.prompt)},
               {"choices", choices},
               {"target", c.gold},
               {"scores", r.choice_scores.is_null() ? json::array() : r.choice_scores}};
  for (size_t m = 0; m < metrics; ++m) predicted[kMetrics[m]] = c.picked[m];
  line["predicted"] = predicted;
  for (size_t m = 0; m < metrics; ++m) line[kMetrics[m]] = c.picked[m] == c.gold ? 1 : 0;
  line["counters"] = {{"decode_calls", r.decode_calls},
                      {"tokens_decoded", r.tokens_decoded},
                      {"sat_out", r.sat_out}};
  line["seconds"] = r.seconds;
  if (!c.score.empty()) {
    line["score"] = c.score;
    line["model_weights"] = r.model_weights.is_null() ? json::array() : r.model_weights;
  }
  if (!r.error.empty()) line["error"] = ToValidUtf8(r.error);
  return line;
}

Status SamplesFile::Open(const std::string& path, const std::string& flag, bool resume,
                         std::unique_ptr<SamplesFile>* out) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::NotFound(flag + ": cannot write " + path + ": " + std::strerror(errno));
  std::unique_ptr<SamplesFile> f(new SamplesFile(fd, path, flag, resume));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return Status::InvalidArgument(flag + " " + path +
                                   " is being written by another eval (it holds the file's lock)");
  }
  if (!resume && ::ftruncate(fd, 0) != 0) return f->Fail("cannot empty");
  *out = std::move(f);
  return Status::Ok();
}

SamplesFile::~SamplesFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status SamplesFile::Fail(const std::string& what) const {
  return Status::Internal(flag_ + ": " + what + " " + path_ + ": " + std::strerror(errno));
}

Status SamplesFile::WriteAll(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail("failed writing");
    done += (size_t)n;
  }
  return Status::Ok();
}

Status SamplesFile::Start(const json& settings, Resumed* resumed) {
  *resumed = Resumed();
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Fail("cannot read");
  if (!resume_ || st.st_size == 0) {
    resumed->started = resume_;
    json header = {{"coolfusion_eval_samples", kFormat}, {"settings", settings}};
    CF_RETURN_IF_ERROR(WriteAll(header.dump() + "\n"));
    last_sync_ms_ = NowMs();
    if (::fsync(fd_) != 0) return Fail("cannot sync");
    return Status::Ok();
  }
  std::string text((size_t)st.st_size, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::pread(fd_, text.data() + got, text.size() - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail("cannot read");
    got += (size_t)n;
  }
  const std::string where = flag_ + " " + path_;
  // The header: the first line, whole.
  const size_t header_end = text.find('\n');
  json header;
  if (header_end != std::string::npos)
    header = json::parse(text.substr(0, header_end), nullptr, /*allow_exceptions=*/false);
  if (!header.is_object() || !header.contains("coolfusion_eval_samples"))
    return Status::InvalidArgument(where +
                                   ": not a samples file of coolfusion eval (its first line is "
                                   "not the header that --log-samples writes)");
  if (header["coolfusion_eval_samples"] != kFormat)
    return Status::InvalidArgument(where + ": written in another format (" +
                                   header["coolfusion_eval_samples"].dump() + ", this is " +
                                   std::to_string(kFormat) + ")");
  const std::string diff = SettingsDiff(header.value("settings", json()), settings);
  if (!diff.empty())
    return Status::InvalidArgument(where + " is from another run (" + diff +
                                   "): give the same settings, or start a new file");
  // The rows. A line without its newline can only be the last, cut by a kill: dropped.
  size_t at = header_end + 1, line_no = 1;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    if (end == std::string::npos) {
      resumed->torn_bytes = text.size() - at;
      break;
    }
    ++line_no;
    const json j = json::parse(text.substr(at, end - at), nullptr, false);
    RowKey key;
    RowResult r;
    std::string why = "not JSON";
    if (j.is_discarded() || !ReadSampleRow(j, &key, &r, &why))
      return Status::InvalidArgument(where + " line " + std::to_string(line_no) +
                                     " is not a row (" + why + ")");
    if (r.error.empty()) resumed->rows[key] = std::move(r);
    at = end + 1;
  }
  if (resumed->torn_bytes && ::ftruncate(fd_, (off_t)at) != 0)
    return Fail("cannot drop the torn last line of");
  if (::lseek(fd_, 0, SEEK_END) < 0) return Fail("cannot seek in");
  last_sync_ms_ = NowMs();
  return Status::Ok();
}

Status SamplesFile::Append(const json& line) {
  CF_RETURN_IF_ERROR(WriteAll(line.dump() + "\n"));
  const int64_t now = NowMs();
  if (now - last_sync_ms_ >= kSyncEveryMs) {
    if (::fsync(fd_) != 0) return Fail("cannot sync");
    last_sync_ms_ = now;
  }
  return Status::Ok();
}

Status SamplesFile::Close() {
  if (fd_ < 0) return Status::Ok();
  const bool synced = ::fsync(fd_) == 0;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0 || !synced) return Fail("failed writing");
  return Status::Ok();
}

}  // namespace coolfusion::cli
