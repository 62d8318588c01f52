#include "args.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace coolfusion::cli {

namespace {

Status ParseInt(const std::string& flag, const std::string& v, long lo, long hi, int* out) {
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0)
    return Status::InvalidArgument(flag + " expects an integer, got '" + v + "'");
  if (x < lo || x > hi) {
    return Status::InvalidArgument(flag + " must be in " + std::to_string(lo) + ".." +
                                   std::to_string(hi) + ", got " + v);
  }
  *out = (int)x;
  return Status::Ok();
}

Status ParseFloat(const std::string& flag, const std::string& v, double lo, double hi,
                  double* out) {
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || x != x)
    return Status::InvalidArgument(flag + " expects a number, got '" + v + "'");
  // A number a double cannot hold (1e309, or 1e-310 below the normal range) is a number.
  if (errno == ERANGE) return Status::InvalidArgument(flag + " out of range: " + v);
  if (x < lo || x > hi) return Status::InvalidArgument(flag + " out of range: " + v);
  *out = x;
  return Status::Ok();
}

// "a,b,c" -> {"a", "b", "c"}, empty items dropped.
std::vector<std::string> SplitList(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// A comma-separated list of names, each parsed by `parse`; the error names the flag.
template <typename T, typename Parse>
Status ParseList(const std::string& flag, const std::string& v, Parse parse, const char* known,
                 std::vector<T>* out) {
  out->clear();
  if (v.empty() || v.front() == ',' || v.back() == ',' || v.find(",,") != std::string::npos)
    return Status::InvalidArgument(flag + " has an empty item: '" + v + "'");
  for (const std::string& name : SplitList(v)) {
    T x;
    if (!parse(name, &x))
      return Status::InvalidArgument("unknown " + flag + " '" + name + "' (" + known + ")");
    out->push_back(x);
  }
  if (out->empty()) return Status::InvalidArgument(flag + " is empty");
  return Status::Ok();
}

// --chat-template NAME|FILE: an existing file holds a template's text; anything else is a
// template name (llama.cpp's built-in ones; the model loader checks it).
Status ChatTemplate(const std::string& v, std::string* out) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(v, ec)) return ReadFile(v, out);
  *out = v;
  return Status::Ok();
}

// -m PATH[@key=value,...]: per-model options.
Status ParseModel(const std::string& spec, const ModelOptions& defaults, ModelOptions* out) {
  *out = defaults;
  const size_t at = spec.rfind('@');
  out->path = spec.substr(0, at);
  if (out->path.empty()) return Status::InvalidArgument("-m expects a file path");
  if (at == std::string::npos) return Status::Ok();
  std::stringstream ss(spec.substr(at + 1));
  std::string kv;
  bool rpc_from_defaults = true;
  while (std::getline(ss, kv, ',')) {
    const size_t eq = kv.find('=');
    const std::string k = kv.substr(0, eq);
    const std::string v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    const std::string flag = "-m ...@" + k;
    if (k == "ctx") {
      CF_RETURN_IF_ERROR(ParseInt(flag, v, 0, 1 << 20, &out->n_ctx));
    } else if (k == "threads") {
      CF_RETURN_IF_ERROR(ParseInt(flag, v, 0, 1024, &out->n_threads));
    } else if (k == "ngl") {
      CF_RETURN_IF_ERROR(ParseInt(flag, v, -1, 100000, &out->n_gpu_layers));
    } else if (k == "weight") {
      CF_RETURN_IF_ERROR(ParseFloat(flag, v, 0, 1e6, &out->weight));  // "nan", "-1": errors
    } else if (k == "template") {
      if (v.empty()) return Status::InvalidArgument("-m ...@template= expects NAME or FILE");
      CF_RETURN_IF_ERROR(ChatTemplate(v, &out->chat_template));
      out->chat_template_jinja.clear();  // this model's own choice wins
    } else if (k == "rpc") {
      if (v.empty()) return Status::InvalidArgument("-m ...@rpc= expects HOST:PORT");
      if (rpc_from_defaults) out->rpc.clear();  // the model's own workers replace --rpc's
      rpc_from_defaults = false;
      out->rpc.push_back(v);
    } else {
      return Status::InvalidArgument("unknown model option '" + k + "' in -m " + spec +
                                     " (ctx, threads, ngl, weight, rpc, template)");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string ProcessEscapes(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[i + 1];
    auto hex = [](char h) {
      return h >= '0' && h <= '9'   ? h - '0'
             : h >= 'a' && h <= 'f' ? h - 'a' + 10
             : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                    : -1;
    };
    switch (c) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\'':
      case '"':
      case '\\': out += c; break;
      case 'x':
        if (i + 3 < s.size() && hex(s[i + 2]) >= 0 && hex(s[i + 3]) >= 0) {
          out += (char)(hex(s[i + 2]) * 16 + hex(s[i + 3]));
          i += 2;
          break;
        }
        [[fallthrough]];
      default:  // not an escape: the backslash stays
        out += '\\';
        out += c;
        break;
    }
    ++i;
  }
  return out;
}

Status ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("cannot read file: " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return Status::Ok();
}

Status ParseArgs(int argc, char** argv, int first, CommonArgs* out) {
  std::vector<std::string> model_specs;
  std::vector<std::string> chat_templates;       // --chat-template, in order
  std::vector<std::string> chat_template_files;  // --chat-template-file's texts, in order
  ModelOptions defaults;
  std::string prompt_file;
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* v) -> Status {
      if (i + 1 >= argc) return Status::InvalidArgument("missing value for " + a);
      *v = argv[++i];
      return Status::Ok();
    };
    std::string v;
    if (a.size() > 1 && a[0] == '-') out->given.push_back(a);
    if (a == "-h" || a == "--help") {
      out->help = true;
    } else if (a == "-m" || a == "--model") {
      CF_RETURN_IF_ERROR(value(&v));
      model_specs.push_back(v);
    } else if (a == "-p" || a == "--prompt") {
      CF_RETURN_IF_ERROR(value(&out->prompt));
      out->prompt_given = true;
    } else if (a == "-f" || a == "--file") {
      CF_RETURN_IF_ERROR(value(&prompt_file));
    } else if (a == "--system") {
      CF_RETURN_IF_ERROR(value(&out->system));
    } else if (a == "--tools") {
      CF_RETURN_IF_ERROR(value(&out->tools));
    } else if (a == "--text-file") {
      CF_RETURN_IF_ERROR(value(&out->text_file));
    } else if (a == "-n" || a == "--n-predict") {
      CF_RETURN_IF_ERROR(value(&v));
      // llama.cpp's -1: no limit (until the models end the text or a context is full).
      int n = 0;
      CF_RETURN_IF_ERROR(
          ParseInt(a, v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max(), &n));
      if (n == 0 || n < -1 || n > (1 << 24))
        return Status::InvalidArgument(a + " must be -1 (no limit) or in 1..16777216, got " + v);
      out->gen.max_new_tokens = n;
    } else if (a == "-c" || a == "--ctx-size") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 0, 1 << 20, &defaults.n_ctx));
    } else if (a == "-t" || a == "--threads") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 0, 1024, &defaults.n_threads));
    } else if (a == "--rpc") {
      // llama.cpp's flag: comma-separated workers, here for every model without its own rpc=
      CF_RETURN_IF_ERROR(value(&v));
      defaults.rpc = SplitList(v);
      if (defaults.rpc.empty())
        return Status::InvalidArgument("--rpc expects HOST:PORT[,HOST:PORT...]");
    } else if (a == "--rpc-timeout") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseFloat(a, v, 0, 1e6, &defaults.rpc_timeout_s));
    } else if (a == "-ngl" || a == "--n-gpu-layers" || a == "--gpu-layers") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, -1, 100000, &defaults.n_gpu_layers));
    } else if (a == "--method") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseList(
          a, v,
          [](const std::string& n, std::string* m) {
            *m = n;
            return IsMethod(n);
          },
          MethodList().c_str(), &out->methods));
      out->gen.method = out->methods.front();
    } else if (a == "--gate") {
      // (0, 1]: 0 is the engine's "unset" (the method's default), not a gate to ask for.
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseFloat(a, v, -1e300, 1e300, &out->gen.peer.gate));
      if (!(out->gen.peer.gate > 0 && out->gen.peer.gate <= 1))
        return Status::InvalidArgument("--gate must be in (0, 1], got " + v);
    } else if (a == "--score") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseList(
          a, v, [](const std::string& n, ScoreRule* r) { return ParseScoreRule(n, r); },
          "auto, mean, geomean, sweetspan, median", &out->scores));
      out->gen.scoring.rule = out->scores.front();
    } else if (a == "--cache-prompt") {
      CF_RETURN_IF_ERROR(value(&v));
      if (v != "on" && v != "off")
        return Status::InvalidArgument(a + " expects on or off, got '" + v + "'");
      out->gen.cache_prompt = v == "on";
    } else if (a == "--prompt-weights" || a == "--word-end" || a == "--per-word" ||
               a == "--confidence" || a == "--token-healing") {
      CF_RETURN_IF_ERROR(value(&v));
      Switch* sw = a == "--word-end"        ? &out->gen.scoring.word_end
                   : a == "--per-word"      ? &out->gen.scoring.per_word
                   : a == "--confidence"    ? &out->gen.scoring.confidence
                   : a == "--token-healing" ? &out->gen.token_healing
                                            : &out->gen.scoring.prompt_weights;
      if (v == "on")
        *sw = Switch::kOn;
      else if (v == "off")
        *sw = Switch::kOff;
      else
        return Status::InvalidArgument(a + " expects on or off, got '" + v + "'");
    } else if (a == "--prompt-temp") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseFloat(a, v, -1e300, 1e300, &out->gen.scoring.prompt_temp));
      if (!(out->gen.scoring.prompt_temp > 0))
        return Status::InvalidArgument("--prompt-temp must be > 0 (bits per byte), got " + v);
    } else if (a == "--prompt-evidence") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseFloat(a, v, 0, 1000, &out->gen.scoring.prompt_evidence));
    } else if (a == "--sit-out") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseFloat(a, v, 0, 1, &out->gen.scoring.sit_out));
      if (out->gen.scoring.sit_out >= 1)
        return Status::InvalidArgument("--sit-out must be in [0, 1), got " + v);
    } else if (a == "--sweetspan-ratio") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseFloat(a, v, 1.0, 1e300, &out->gen.scoring.sweetspan_ratio));
    } else if (a == "--temp" || a == "--temperature") {
      CF_RETURN_IF_ERROR(value(&v));
      double t;
      CF_RETURN_IF_ERROR(ParseFloat(a, v, 0, 100, &t));
      out->gen.sampling.temperature = (float)t;
    } else if (a == "--top-p") {
      CF_RETURN_IF_ERROR(value(&v));
      double t;
      CF_RETURN_IF_ERROR(ParseFloat(a, v, 1e-9, 1, &t));
      out->gen.sampling.top_p = (float)t;
    } else if (a == "--top-k") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 0, 1 << 24, &out->gen.sampling.top_k));
    } else if (a == "--min-p") {
      CF_RETURN_IF_ERROR(value(&v));
      double t;
      CF_RETURN_IF_ERROR(ParseFloat(a, v, 0, 1, &t));
      out->gen.sampling.min_p = (float)t;
    } else if (a == "--repeat-penalty" || a == "--presence-penalty" || a == "--frequency-penalty") {
      CF_RETURN_IF_ERROR(value(&v));
      double t;
      const bool rep = a == "--repeat-penalty";
      CF_RETURN_IF_ERROR(ParseFloat(a, v, rep ? 1e-3 : -2, rep ? 10 : 2, &t));
      float* dst = rep                         ? &out->gen.sampling.repeat_penalty
                   : a == "--presence-penalty" ? &out->gen.sampling.presence_penalty
                                               : &out->gen.sampling.frequency_penalty;
      *dst = (float)t;
    } else if (a == "--repeat-last-n") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, -1, 1 << 20, &out->gen.sampling.repeat_last_n));
    } else if (a == "--grammar" || a == "--grammar-file" || a == "--json-schema" || a == "-j" ||
               a == "--json-schema-file") {
      CF_RETURN_IF_ERROR(value(&v));
      if (!out->gen.grammar.empty())
        return Status::InvalidArgument(
            "give one of --grammar, --grammar-file, --json-schema, "
            "--json-schema-file");
      std::string text = v;
      if (a == "--grammar-file" || a == "--json-schema-file")
        CF_RETURN_IF_ERROR(ReadFile(v, &text));
      if (a == "--grammar" || a == "--grammar-file") {
        if (text.empty()) return Status::InvalidArgument(a + ": the grammar is empty");
        out->gen.grammar = text;
      } else {
        CF_RETURN_IF_ERROR(JsonSchemaToGrammar(text, &out->gen.grammar));
      }
    } else if (a == "-s" || a == "--seed") {
      CF_RETURN_IF_ERROR(value(&v));
      char* end = nullptr;
      const unsigned long long s = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || s > std::numeric_limits<uint32_t>::max()) {
        return Status::InvalidArgument("--seed expects an integer in 0..4294967295");
      }
      out->gen.sampling.seed = (uint32_t)s;
    } else if (a == "--stop" || a == "-r" || a == "--reverse-prompt") {
      CF_RETURN_IF_ERROR(value(&v));
      if (v.empty()) return Status::InvalidArgument(a + " expects a non-empty string");
      out->gen.stop.push_back(v);
    } else if (a == "--max-segment-tokens") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 4096, &out->gen.max_segment_tokens));
    } else if (a == "--repeat") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 1000, &out->repeat));
    } else if (a == "--no-growth") {
      out->no_growth = true;
    } else if (a == "--big") {
      CF_RETURN_IF_ERROR(value(&v));
      out->big_models.push_back(v);
    } else if (a == "--host") {
      CF_RETURN_IF_ERROR(value(&out->host));
    } else if (a == "--port") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 0, 65535, &out->port));
    } else if (a == "-np" || a == "--parallel") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 256, &out->parallel));
    } else if (a == "--max-queue") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 0, 100000, &out->max_queue));
    } else if (a == "--max-body") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1024, 1 << 30, &out->max_body));
    } else if (a == "--timeout" || a == "-to") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 3600, &out->timeout));
    } else if (a == "--max-connections") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 4096, &out->max_connections));
    } else if (a == "--max-connections-per-address") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 4096, &out->max_connections_per_address));
    } else if (a == "--max-tokens") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 1 << 24, &out->max_tokens));
    } else if (a == "--queue-timeout") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 86400, &out->queue_timeout));
    } else if (a == "--api-key") {
      CF_RETURN_IF_ERROR(value(&out->api_key));
      if (out->api_key.empty()) return Status::InvalidArgument("--api-key must not be empty");
    } else if (a == "--cors-origin") {
      CF_RETURN_IF_ERROR(value(&v));
      for (const std::string& o : SplitList(v)) {
        if (o != "*" && o.find("://") == std::string::npos)
          return Status::InvalidArgument(a +
                                         " expects an origin such as https://example.com, or *");
        out->cors_origins.push_back(o);
      }
      if (SplitList(v).empty())
        return Status::InvalidArgument(a + " expects ORIGIN[,ORIGIN...] or *");
    } else if (a == "--alias" || a == "-a") {
      CF_RETURN_IF_ERROR(value(&out->alias));
      if (out->alias.empty()) return Status::InvalidArgument(a + " must not be empty");
    } else if (a == "--chat-template") {
      CF_RETURN_IF_ERROR(value(&v));
      if (v.empty()) return Status::InvalidArgument(a + " expects NAME or FILE");
      chat_templates.emplace_back();
      CF_RETURN_IF_ERROR(ChatTemplate(v, &chat_templates.back()));
    } else if (a == "--jinja" || a == "--no-jinja") {
      defaults.jinja_gguf_template = a == "--jinja";
    } else if (a == "--chat-template-file") {
      CF_RETURN_IF_ERROR(value(&v));
      chat_template_files.emplace_back();
      CF_RETURN_IF_ERROR(ReadFile(v, &chat_template_files.back()));
      if (chat_template_files.back().empty())
        return Status::InvalidArgument(a + ": " + v + " is empty");
    } else if (a == "-e" || a == "--escape") {
      out->escape = true;
    } else if (a == "--no-escape") {
      out->escape = false;
    } else if (a == "--no-mmap") {
      defaults.use_mmap = false;
    } else if (a == "--mmap") {
      defaults.use_mmap = true;
    } else if (a == "-fa" || a == "--flash-attn") {
      CF_RETURN_IF_ERROR(value(&v));
      if (v == "on" || v == "1" || v == "true" || v == "enabled") {
        defaults.flash_attn = 1;
      } else if (v == "off" || v == "0" || v == "false" || v == "disabled") {
        defaults.flash_attn = 0;
      } else if (v == "auto" || v == "-1") {
        defaults.flash_attn = -1;
      } else {
        return Status::InvalidArgument(a + " expects on, off or auto, got '" + v + "'");
      }
    } else if (a == "--log-disable") {
      out->log_disable = true;
    } else if (a == "--parallel-models") {
      out->gen.parallel_models = true;
    } else if (a == "--json") {
      // eval: --json OUT (a file); elsewhere a switch.
      if (first >= 2 && std::string(argv[first - 1]) == "eval") {
        CF_RETURN_IF_ERROR(value(&out->json_out));
      }
      out->json = true;
    } else if (a == "--data") {
      CF_RETURN_IF_ERROR(value(&out->data));
    } else if (a == "--task") {
      CF_RETURN_IF_ERROR(value(&out->task));
    } else if (a == "--train") {
      CF_RETURN_IF_ERROR(value(&out->train));
    } else if (a == "--few-shot") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 0, 64, &out->few_shot));
    } else if (a == "--calibrate") {
      CF_RETURN_IF_ERROR(value(&out->calibrate));
      if (out->calibrate.empty())
        return Status::InvalidArgument("--calibrate expects a file of solved rows, not \"\"");
    } else if (a == "--prompt-suffix") {
      CF_RETURN_IF_ERROR(value(&out->prompt_suffix));
    } else if (a == "--answer-prefix") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 0, 64, &out->answer_prefix));
    } else if (a == "--limit") {
      CF_RETURN_IF_ERROR(value(&v));
      CF_RETURN_IF_ERROR(ParseInt(a, v, 1, 100000000, &out->limit));
    } else if (a == "--svg") {
      CF_RETURN_IF_ERROR(value(&out->svg_out));
    } else if (a == "--log-samples") {
      CF_RETURN_IF_ERROR(value(&out->log_samples));
    } else if (a == "--resume") {
      CF_RETURN_IF_ERROR(value(&out->resume));
    } else if (a == "--trace") {
      out->trace = true;
    } else if (a == "--verbose" || a == "-v") {
      out->verbose = true;
    } else {
      return Status::InvalidArgument("unknown argument: " + a + " (see --help)");
    }
  }
  if (!prompt_file.empty()) {
    if (out->prompt_given) return Status::InvalidArgument("give either -p or -f, not both");
    CF_RETURN_IF_ERROR(ReadFile(prompt_file, &out->prompt));
    out->prompt_given = true;
  }
  if (out->escape) {
    if (prompt_file.empty()) out->prompt = ProcessEscapes(out->prompt);  // a file is literal
    out->system = ProcessEscapes(out->system);
    for (auto& s : out->gen.stop) s = ProcessEscapes(s);
  }
  // --chat-template: one for every model, or one per -m in order; a model's own
  // @template= wins over either.
  if (!chat_templates.empty() && chat_templates.size() != 1 &&
      chat_templates.size() != model_specs.size()) {
    return Status::InvalidArgument("--chat-template: give one (for every model) or one per -m (" +
                                   std::to_string(model_specs.size()) + "), got " +
                                   std::to_string(chat_templates.size()));
  }
  if (chat_templates.size() == 1) defaults.chat_template = chat_templates[0];
  // --chat-template-file (a Jinja template, llama-server's flag): the same, and it wins
  // over --chat-template.
  if (!chat_template_files.empty() && chat_template_files.size() != 1 &&
      chat_template_files.size() != model_specs.size()) {
    return Status::InvalidArgument(
        "--chat-template-file: give one (for every model) or one per -m (" +
        std::to_string(model_specs.size()) + "), got " +
        std::to_string(chat_template_files.size()));
  }
  if (chat_template_files.size() == 1) defaults.chat_template_jinja = chat_template_files[0];
  out->model_defaults = defaults;
  for (size_t i = 0; i < model_specs.size(); ++i) {
    ModelOptions d = defaults;
    if (chat_templates.size() > 1) d.chat_template = chat_templates[i];
    if (chat_template_files.size() > 1) d.chat_template_jinja = chat_template_files[i];
    ModelOptions mo;
    CF_RETURN_IF_ERROR(ParseModel(model_specs[i], d, &mo));
    out->models.push_back(mo);
  }
  return Status::Ok();
}

}  // namespace coolfusion::cli
