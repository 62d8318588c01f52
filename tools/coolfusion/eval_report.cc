#include "eval_report.h"

#include <coolfusion/engine.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "eval/dataset.h"

namespace coolfusion::cli {
namespace {

std::string Duration(double s) {
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%dm%02ds", (int)(s / 60), (int)s % 60);
  else
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}

std::string Escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

}  // namespace

std::vector<RunPlan> PlanRuns(const std::vector<ModelOptions>& models,
                              const std::vector<std::string>& methods,
                              const std::vector<ScoreRule>& scores) {
  std::vector<std::string> paths;
  for (const ModelOptions& m : models) paths.push_back(m.path);
  std::vector<RunPlan> runs;
  for (const std::string& m : methods) {
    if (IsSingleModelMethod(m)) {
      for (size_t i = 0; i < models.size(); ++i)
        runs.push_back({m, scores[0], (int)i, {paths[i]}, "single " + Basename(paths[i])});
      continue;
    }
    for (ScoreRule r : scores) {
      std::string label = m;
      if (models.size() > 1 && (scores.size() > 1 || r != ScoreRule::kAuto))
        label += std::string(" (") + ScoreRuleName(r) + ")";
      runs.push_back({m, r, -1, paths, label});
    }
  }
  auto fused = [](const RunPlan& r) { return r.only_model < 0; };
  auto is_default = [](const RunPlan& r) {
    return r.only_model < 0 && r.method == DefaultMethod() && r.score == ScoreRule::kAuto;
  };
  if (std::any_of(runs.begin(), runs.end(), fused) &&
      std::none_of(runs.begin(), runs.end(), is_default)) {
    RunPlan d{DefaultMethod(), ScoreRule::kAuto, -1, paths,
              DefaultMethod() + std::string(" (default)")};
    d.added_as_reference = true;
    runs.insert(std::find_if(runs.begin(), runs.end(), fused), d);
  }
  return runs;
}

GenerateOptions RunOptions(const GenerateOptions& gen, const RunPlan& run) {
  GenerateOptions o = gen;
  o.method = run.only_model >= 0 ? SingleModelMethod() : run.method;
  o.only_model = run.only_model;
  o.scoring.rule = run.score;
  if (run.added_as_reference) o.peer.gate = 0;
  return o;
}

void PrintRowsLine(size_t rows, size_t total_rows, const std::string& file, const std::string& task,
                   const char* kind, int few_shot, size_t blank_lines) {
  std::fprintf(
      stderr, "eval: %zu of %zu rows of %s (task %s, %s%d-shot)%s\n", rows, total_rows,
      file.c_str(), task.c_str(), kind, few_shot,
      blank_lines ? (", " + std::to_string(blank_lines) + " blank lines skipped").c_str() : "");
}

std::string Basename(const std::string& p) {
  const size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

Progress::Progress(size_t total, size_t resumed)
    : total_(total),
      resumed_(resumed),
      tty_(isatty(STDERR_FILENO)),
      start_(Clock::now()),
      next_pct_(total ? (int)(100 * resumed / total) / kStep * kStep + kStep : kStep) {}

void Progress::Update(size_t done, const std::string& what) {
  const double el = std::chrono::duration<double>(Clock::now() - start_).count();
  const int pct = total_ ? (int)(100 * done / total_) : 100;
  if (!tty_ && pct < next_pct_) return;
  next_pct_ = pct / kStep * kStep + kStep;
  const int width = 30, filled = total_ ? (int)(width * done / total_) : width;
  const std::string bar =
      std::string((size_t)filled, '#') + std::string((size_t)(width - filled), '.');
  const size_t ran = done - std::min(done, resumed_);
  const double eta = ran ? el / (double)ran * (double)(total_ - done) : 0;
  std::fprintf(stderr, "%s[%s] %3d%% %zu/%zu %-28s elapsed %s ETA %s%s", tty_ ? "\r" : "",
               bar.c_str(), pct, done, total_, what.c_str(), Duration(el).c_str(),
               Duration(eta).c_str(), tty_ ? "" : "\n");
  if (tty_ && done == total_) std::fputc('\n', stderr);
  std::fflush(stderr);
}

std::string Chart(const std::vector<Bar>& bars, const std::string& title) {
  const int label_w = 330, plot_w = 420, row_h = 28, top = 48, bottom = 40;
  const int h = top + (int)bars.size() * row_h + bottom, w = label_w + plot_w + 70;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w) +
                  "\" height=\"" + std::to_string(h) +
                  "\" font-family=\"sans-serif\" font-size=\"13\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"10\" y=\"24\" font-size=\"15\" font-weight=\"bold\">" + Escape(title) +
       "</text>\n";
  for (int t = 0; t <= 100; t += 20) {
    const int x = label_w + plot_w * t / 100;
    s += "<line x1=\"" + std::to_string(x) + "\" y1=\"" + std::to_string(top - 6) + "\" x2=\"" +
         std::to_string(x) + "\" y2=\"" + std::to_string(h - bottom + 4) + "\" stroke=\"#ddd\"/>\n";
    s += "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(h - bottom + 20) +
         "\" text-anchor=\"middle\" fill=\"#555\">" + std::to_string(t) + "%</text>\n";
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& r = bars[i];
    const int y = top + (int)i * row_h;
    const double acc = r.n ? (double)r.correct / (double)r.n : 0;
    double lo, hi;
    eval::Wilson95(r.correct, r.n, &lo, &hi);
    const int bw = (int)(plot_w * acc);
    s += "<text x=\"" + std::to_string(label_w - 8) + "\" y=\"" + std::to_string(y + 17) +
         "\" text-anchor=\"end\">" + Escape(r.label) + "</text>\n";
    s += "<rect x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(y + 4) +
         "\" width=\"" + std::to_string(bw) + "\" height=\"" + std::to_string(row_h - 8) +
         "\" fill=\"" + (r.fused ? "#2b7bba" : "#9ab") + "\"/>\n";
    const int xl = label_w + (int)(plot_w * lo), xh = label_w + (int)(plot_w * hi),
              ym = y + row_h / 2;
    s += "<line x1=\"" + std::to_string(xl) + "\" y1=\"" + std::to_string(ym) + "\" x2=\"" +
         std::to_string(xh) + "\" y2=\"" + std::to_string(ym) + "\" stroke=\"black\"/>\n";
    for (int x : {xl, xh})
      s += "<line x1=\"" + std::to_string(x) + "\" y1=\"" + std::to_string(ym - 5) + "\" x2=\"" +
           std::to_string(x) + "\" y2=\"" + std::to_string(ym + 5) + "\" stroke=\"black\"/>\n";
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.1f%%", 100 * acc);
    s += "<text x=\"" + std::to_string(std::max(xh, label_w + bw) + 6) + "\" y=\"" +
         std::to_string(y + 17) + "\">" + pct + "</text>\n";
  }
  return s + "</svg>\n";
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("cannot write " + path);
  f << text;
  if (!f) return Status::Internal("failed writing " + path);
  return Status::Ok();
}

Status OpenSamples(const CommonArgs& a, std::unique_ptr<SamplesFile>* out) {
  if (!a.resume.empty() && !a.log_samples.empty() && a.log_samples != a.resume)
    return Status::InvalidArgument("--resume " + a.resume +
                                   " goes on writing that file; --log-samples names another (" +
                                   a.log_samples + ")");
  const std::string path = a.resume.empty() ? a.log_samples : a.resume;
  if (path.empty()) return Status::Ok();
  return SamplesFile::Open(path, a.resume.empty() ? "--log-samples" : "--resume", !a.resume.empty(),
                           out);
}

void ReportResumed(const CommonArgs& a, const Resumed& resumed, size_t total_rows) {
  if (a.resume.empty()) return;
  if (resumed.started)
    std::fprintf(stderr, "eval: --resume %s: empty or new, starting the run there\n",
                 a.resume.c_str());
  else
    std::fprintf(stderr, "eval: resumed %zu of %zu rows from %s%s\n", resumed.rows.size(),
                 total_rows, a.resume.c_str(),
                 resumed.torn_bytes ? " (its torn last line dropped)" : "");
}

}  // namespace coolfusion::cli
