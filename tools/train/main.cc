// coolfusion-train: trains a llama-architecture GGUF (e.g. one written by
// coolfusion-make-model: a real tokenizer, random weights) on GSM8K-format jsonl with
// llama.cpp's own trainer (llama_opt_init / llama_opt_epoch, AdamW), on the CPU.
//
// Each row becomes "Question: {question}\nAnswer: {answer}" + end-of-generation, the
// format `coolfusion eval` prompts with. Rows are packed whole into windows of the
// model's training context (padding with end-of-generation), shuffled each epoch with
// --seed. The learning rate warms up linearly, then follows a cosine down to --lr-min.
// After every epoch it prints the validation loss and the greedy accuracy on the first
// --check validation rows, and writes --out (f32, f16 or q8_0) with its context length
// set to --out-ctx.
//
// Same command, same seed, same thread count: same losses (ggml's CPU kernels are
// deterministic).
#include <ggml-opt.h>
#include <llama-cpp.h>
#include <llama.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../common/quantize.h"
#include "../common/tool_flags.h"

namespace {

using coolfusion::tools::Fail;
using coolfusion::tools::ParseDouble;
using coolfusion::tools::ParseLong;
using coolfusion::tools::QuantizeGguf;
using coolfusion::tools::QuietLlamaLog;

struct Args {
  std::string model, train, val, out, out_type = "f16";
  long epochs = 1, threads = 2, check = 60, out_ctx = 2048, seed = 1, ngl = 0;
  bool pack = true;  // --no-pack: one example per window (no attention across examples)
  double lr = 3e-4, lr_min = 3e-5, warmup = 0.03, wd = 0.0;
};

struct Row {
  std::string question, answer;
};

bool ReadRows(const std::string& path, std::vector<Row>* rows, std::string* err) {
  std::ifstream in(path);
  if (!in) {
    *err = "cannot read " + path;
    return false;
  }
  long line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("question") ||
        !j["question"].is_string() || !j.contains("answer") || !j["answer"].is_string()) {
      *err = path + ":" + std::to_string(line_no) +
             ": not a {\"question\": string, \"answer\": string} object";
      return false;
    }
    rows->push_back({j["question"].get<std::string>(), j["answer"].get<std::string>()});
  }
  if (rows->empty()) {
    *err = path + " has no rows";
    return false;
  }
  return true;
}

std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& text,
                                  bool add_special) {
  std::vector<llama_token> t(text.size() + 8);
  int n = llama_tokenize(vocab, text.data(), (int32_t)text.size(), t.data(), (int32_t)t.size(),
                         add_special, false);
  if (n < 0) {
    t.resize((size_t)-n);
    n = llama_tokenize(vocab, text.data(), (int32_t)text.size(), t.data(), (int32_t)t.size(),
                       add_special, false);
  }
  t.resize((size_t)std::max(n, 0));
  return t;
}

std::string Prompt(const Row& r) { return "Question: " + r.question + "\nAnswer:"; }

// Packs whole examples into windows of n_ctx + 1 tokens (inputs are the first n_ctx,
// labels the last n_ctx), padding each window's tail with end-of-generation.
std::vector<std::vector<llama_token>> Pack(const std::vector<std::vector<llama_token>>& examples,
                                           const std::vector<size_t>& order, size_t n_ctx,
                                           llama_token pad, bool pack) {
  std::vector<std::vector<llama_token>> windows;
  std::vector<llama_token> cur;
  for (size_t i : order) {
    const auto& e = examples[i];
    if ((!pack || cur.size() + e.size() > n_ctx + 1) && !cur.empty()) {
      cur.resize(n_ctx + 1, pad);
      windows.push_back(std::move(cur));
      cur.clear();
    }
    cur.insert(cur.end(), e.begin(), e.begin() + (long)std::min(e.size(), n_ctx + 1));
  }
  if (!cur.empty()) {
    cur.resize(n_ctx + 1, pad);
    windows.push_back(std::move(cur));
  }
  return windows;
}

struct Schedule {
  double lr, lr_min, wd;
  long warmup_steps, total_steps, step = 0;
};

ggml_opt_optimizer_params LearningRate(void* ud) {
  Schedule& s = *(Schedule*)ud;
  ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
  double lr;
  if (s.step < s.warmup_steps) {
    lr = s.lr * (double)(s.step + 1) / (double)s.warmup_steps;
  } else {
    const double t = std::min(1.0, (double)(s.step - s.warmup_steps) /
                                       (double)std::max(1L, s.total_steps - s.warmup_steps));
    lr = s.lr_min + 0.5 * (s.lr - s.lr_min) * (1.0 + std::cos(M_PI * t));
  }
  p.adamw.alpha = p.sgd.alpha = (float)lr;
  p.adamw.wd = p.sgd.wd = (float)s.wd;
  ++s.step;
  return p;
}

std::string AfterHashes(const std::string& s) {
  const size_t p = s.rfind("####");
  if (p == std::string::npos) return "";
  const size_t b = s.find_first_not_of(' ', p + 4);
  if (b == std::string::npos) return "";
  const size_t e = s.find_first_of("\n ", b);
  return s.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

// Greedy accuracy on the first n validation rows, with a separate inference context.
double Check(llama_model* model, const std::vector<Row>& rows, long n, long threads,
             std::string* sample) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = (uint32_t)llama_model_n_ctx_train(model);
  cp.n_batch = cp.n_ctx;
  cp.n_threads = cp.n_threads_batch = (int32_t)threads;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return -1;
  long correct = 0, done = 0;
  for (long i = 0; i < n && i < (long)rows.size(); ++i, ++done) {
    llama_memory_clear(llama_get_memory(ctx), true);
    std::vector<llama_token> toks = Tokenize(vocab, Prompt(rows[(size_t)i]), true);
    if (toks.size() + 24 > cp.n_ctx) continue;
    std::string text;
    llama_batch b = llama_batch_get_one(toks.data(), (int32_t)toks.size());
    llama_token next = 0;
    for (int step = 0; step < 24; ++step) {
      if (llama_decode(ctx, b) != 0) break;
      const float* logits = llama_get_logits_ith(ctx, -1);
      next = (llama_token)(std::max_element(logits, logits + llama_vocab_n_tokens(vocab)) - logits);
      if (llama_vocab_is_eog(vocab, next)) break;
      char buf[256];
      const int k = llama_token_to_piece(vocab, next, buf, sizeof buf, 0, false);
      if (k > 0) text.append(buf, (size_t)k);
      b = llama_batch_get_one(&next, 1);
    }
    if (i == 0) *sample = text;
    if (!text.empty() && AfterHashes(text) == AfterHashes(rows[(size_t)i].answer)) ++correct;
  }
  llama_free(ctx);
  return done ? (double)correct / (double)done : 0.0;
}

// Writes the model as trained so far: f32 to a temporary file, then converted to the
// output type with the context length set to out_ctx.
bool Save(const llama_model* model, const Args& a) {
  const std::string tmp = a.out + ".f32.tmp";
  llama_model_save_to_file(model, tmp.c_str());
  llama_model_kv_override ov[2] = {};
  ov[0].tag = LLAMA_KV_OVERRIDE_TYPE_INT;
  std::snprintf(ov[0].key, sizeof ov[0].key, "llama.context_length");
  ov[0].val_i64 = a.out_ctx;
  const bool ok = QuantizeGguf(tmp, a.out, a.out_type, (int)a.threads, ov);
  std::remove(tmp.c_str());
  return ok;
}

// Progress on long epochs: a line per tenth of the windows (logs stay readable).
void Progress(bool train, ggml_opt_context_t, ggml_opt_dataset_t, ggml_opt_result_t result,
              int64_t ibatch, int64_t ibatch_max, int64_t t_start_us) {
  if (!train || ibatch_max < 1) return;
  const int64_t tenth = std::max<int64_t>(1, ibatch_max / 10);
  if (ibatch % tenth != 0 && ibatch != ibatch_max) return;
  double loss, unc;
  ggml_opt_result_loss(result, &loss, &unc);
  const double elapsed = (double)(ggml_time_us() - t_start_us) / 1e6;
  std::fprintf(stderr, "  train %3d%% (%lld/%lld windows) loss %.4f, %.0f s, ETA %.0f s\n",
               (int)(100 * ibatch / ibatch_max), (long long)ibatch, (long long)ibatch_max, loss,
               elapsed, elapsed / (double)ibatch * (double)(ibatch_max - ibatch));
}

const char* kUsage =
    "usage: coolfusion-train -m MODEL.gguf --train TRAIN.jsonl --val VAL.jsonl -o OUT.gguf\n"
    "         [--epochs 1] [--lr 3e-4] [--lr-min 3e-5] [--warmup 0.03] [--wd 0]\n"
    "         [--seed 1] [-t 2] [-ngl 0] [--check 60] [--out-ctx 2048] [--out-type f16|q8_0|f32]\n"
    "         [--no-pack]\n"
    "Trains MODEL (f32 weights; its context length is the training window) with AdamW and\n"
    "writes OUT. --warmup is a fraction of all steps; --check is how many validation rows\n"
    "are answered greedily after each epoch. -ngl 99 trains on a GPU (a CUDA build).\n"
    "Examples are packed whole into windows; --no-pack gives each its own window.\n";

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (k == "--no-pack") {
      a.pack = false;
      continue;
    }
    if (i + 1 >= argc) return Fail("missing value for " + k);
    const char* v = argv[++i];
    bool ok = true;
    if (k == "-m" || k == "--model")
      a.model = v;
    else if (k == "--train")
      a.train = v;
    else if (k == "--val")
      a.val = v;
    else if (k == "-o" || k == "--out")
      a.out = v;
    else if (k == "--out-type") {
      a.out_type = v;
      ok = a.out_type == "f16" || a.out_type == "q8_0" || a.out_type == "f32";
    } else if (k == "--epochs")
      ok = ParseLong(v, 1, 1000, &a.epochs);
    else if (k == "-t" || k == "--threads")
      ok = ParseLong(v, 1, 512, &a.threads);
    else if (k == "-ngl" || k == "--n-gpu-layers")
      ok = ParseLong(v, 0, 100000, &a.ngl);
    else if (k == "--check")
      ok = ParseLong(v, 0, 1000000, &a.check);
    else if (k == "--out-ctx")
      ok = ParseLong(v, 8, 1 << 20, &a.out_ctx);
    else if (k == "--seed")
      ok = ParseLong(v, 0, 1L << 40, &a.seed);
    else if (k == "--lr")
      ok = ParseDouble(v, 1e-9, 1.0, &a.lr);
    else if (k == "--lr-min")
      ok = ParseDouble(v, 1e-12, 1.0, &a.lr_min);
    else if (k == "--warmup")
      ok = ParseDouble(v, 0.0, 1.0, &a.warmup);
    else if (k == "--wd")
      ok = ParseDouble(v, 0.0, 1.0, &a.wd);
    else
      return Fail("unknown argument: " + k + " (see --help)");
    if (!ok) return Fail("bad value for " + k + ": " + v);
  }
  if (a.model.empty() || a.train.empty() || a.val.empty() || a.out.empty())
    return Fail("-m, --train, --val and -o are required (see --help)");

  std::vector<Row> train, val;
  std::string err;
  if (!ReadRows(a.train, &train, &err) || !ReadRows(a.val, &val, &err)) return Fail(err);

  llama_log_set(QuietLlamaLog, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.load_mode = LLAMA_LOAD_MODE_NONE;  // the trainer writes into the weights
  mp.n_gpu_layers = (int32_t)a.ngl;     // 0: CPU; a GPU build trains there with -ngl 99
  llama_model_ptr model_owner(llama_model_load_from_file(a.model.c_str(), mp));
  llama_model* model = model_owner.get();
  if (!model) return Fail("cannot load model " + a.model);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const size_t n_ctx = (size_t)llama_model_n_ctx_train(model);
  // Training attends to the window's own keys and values (patches/llama.cpp/0001), which
  // needs the KV cache to be exactly one window: llama.cpp pads caches to 256 cells.
  if (n_ctx % 256 != 0)
    return Fail(
        a.model + ": its context length " + std::to_string(n_ctx) +
        " is the training window and must be a multiple of 256 (coolfusion-make-model --ctx)");
  const llama_token eog =
      llama_vocab_eos(vocab) >= 0 ? llama_vocab_eos(vocab) : llama_vocab_eot(vocab);
  if (eog < 0) return Fail(a.model + " has no end-of-generation token");

  auto encode = [&](const std::vector<Row>& rows) {
    std::vector<std::vector<llama_token>> out;
    for (const Row& r : rows) {
      auto t = Tokenize(vocab, Prompt(r) + " " + r.answer, true);
      t.push_back(eog);
      out.push_back(std::move(t));
    }
    return out;
  };
  const auto train_ex = encode(train), val_ex = encode(val);
  size_t n_tok = 0, longest = 0;
  for (const auto& e : train_ex) n_tok += e.size(), longest = std::max(longest, e.size());
  if (longest > n_ctx + 1)
    std::fprintf(stderr, "warning: an example of %zu tokens is cut to the %zu-token window\n",
                 longest, n_ctx);

  std::vector<size_t> val_order(val_ex.size());
  for (size_t i = 0; i < val_order.size(); ++i) val_order[i] = i;
  const auto val_windows = Pack(val_ex, val_order, n_ctx, eog, a.pack);
  std::vector<size_t> order(train_ex.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const size_t n_train_windows = Pack(train_ex, order, n_ctx, eog, a.pack).size();

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = (uint32_t)n_ctx;
  cp.n_batch = cp.n_ubatch = (uint32_t)n_ctx;
  cp.n_threads = cp.n_threads_batch = (int32_t)a.threads;
  cp.type_k = cp.type_v = GGML_TYPE_F32;  // OUT_PROD has no f16
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  llama_context_ptr ctx_owner(llama_init_from_model(model, cp));
  llama_context* ctx = ctx_owner.get();
  if (!ctx) return Fail("cannot create a training context");

  Schedule sched{a.lr, a.lr_min, a.wd, 0, (long)(n_train_windows * (size_t)a.epochs)};
  sched.warmup_steps = std::max(1L, (long)(a.warmup * (double)sched.total_steps));
  llama_opt_params op{};
  op.n_ctx_train = 0;
  op.param_filter = llama_opt_param_filter_all;
  op.param_filter_ud = nullptr;
  op.get_opt_pars = LearningRate;
  op.get_opt_pars_ud = &sched;
  op.optimizer_type = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
  llama_opt_init(ctx, model, op);

  std::fprintf(
      stderr,
      "training %s: %zu rows (%zu tokens, %zu windows of %zu), %zu validation rows, %ld epochs, "
      "%ld steps, lr %.2g -> %.2g, warm-up %ld steps, seed %ld, %ld threads\n",
      a.model.c_str(), train.size(), n_tok, n_train_windows, n_ctx, val.size(), a.epochs,
      sched.total_steps, a.lr, a.lr_min, sched.warmup_steps, a.seed, a.threads);

  std::mt19937_64 rng((uint64_t)a.seed);
  ggml_opt_result_t res_train = ggml_opt_result_init(), res_val = ggml_opt_result_init();
  struct Results {
    ggml_opt_result_t a, b;
    ~Results() { ggml_opt_result_free(a), ggml_opt_result_free(b); }
  } results_owner{res_train, res_val};
  for (long epoch = 0; epoch < a.epochs; ++epoch) {
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[(size_t)(rng() % i)]);
    auto windows = Pack(train_ex, order, n_ctx, eog, a.pack);
    const size_t n_tw = windows.size();
    windows.insert(windows.end(), val_windows.begin(), val_windows.end());
    ggml_opt_dataset_t ds = ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, (int64_t)n_ctx,
                                                  (int64_t)n_ctx, (int64_t)windows.size(), 1);
    auto* data = (llama_token*)ggml_opt_dataset_data(ds)->data;
    auto* labels = (llama_token*)ggml_opt_dataset_labels(ds)->data;
    for (size_t w = 0; w < windows.size(); ++w) {
      std::memcpy(data + w * n_ctx, windows[w].data(), n_ctx * sizeof(llama_token));
      std::memcpy(labels + w * n_ctx, windows[w].data() + 1, n_ctx * sizeof(llama_token));
    }
    llama_opt_epoch(ctx, ds, res_train, res_val, (int64_t)n_tw, Progress, nullptr);
    double train_loss, val_loss, unc;
    ggml_opt_result_loss(res_train, &train_loss, &unc);
    ggml_opt_result_loss(res_val, &val_loss, &unc);
    std::string sample;
    const double acc = a.check > 0 ? Check(model, val, a.check, a.threads, &sample) : -1;
    std::printf("epoch %ld: train loss %.5f, validation loss %.5f", epoch + 1, train_loss,
                val_loss);
    if (a.check > 0) {
      std::string s = sample;
      for (auto& c : s)
        if (c == '\n') c = '|';
      std::printf(", greedy accuracy %.1f%% on %ld validation rows (first: \"%s\")", 100 * acc,
                  std::min(a.check, (long)val.size()), s.c_str());
    }
    std::printf("\n");
    std::fflush(stdout);
    ggml_opt_result_reset(res_train);
    ggml_opt_result_reset(res_val);
    ggml_opt_dataset_free(ds);
    // After every epoch, so that a run cut short still leaves its latest model.
    if (!Save(model, a)) return Fail("cannot write " + a.out);
  }

  ctx_owner.reset();
  model_owner.reset();
  std::fprintf(stderr, "done: %s (%s, context length %ld)\n", a.out.c_str(), a.out_type.c_str(),
               a.out_ctx);
  llama_backend_free();
  return 0;
}
