// coolfusion-make-model: writes a llama-architecture GGUF with the vocabulary of a real
// tokenizer (any GGUF, e.g. llama.cpp's models/ggml-vocab-*.gguf) and seeded random
// weights. Used for tests (tiny) and benchmarks (>= 500M parameters). q8_0 and q4_0 are
// written as f16 and then quantized by llama.cpp (llama_model_quantize), as a user's
// quantized GGUF would be.
//
//   coolfusion-make-model --vocab VOCAB.gguf --out OUT.gguf [--dim 64] [--layers 2]
//       [--heads 4] [--kv-heads H] [--ff 4*dim] [--ctx 512] [--seed 1] [--type f32|f16|q8_0|q4_0]
//       [--std 0.02] [--name NAME] [--eos-id ID] [--chat-template chatml|TEXT]
//       [--chat-template-file FILE] [--kv-init random|identity]
//
// --chat-template-file stores FILE's bytes, unchanged, as tokenizer.chat_template (a real
// model's Jinja template, e.g. llama.cpp's models/templates/*.jinja); a file that cannot be
// read or is empty is an error.
//
// --kv-init identity starts every key and value projection as the identity. The pinned
// llama.cpp trains through its KV cache, which cuts the gradient to attn_k and attn_v
// (they keep their initial values; upstream ggml-org/llama.cpp PR #28520): with identity
// projections the keys and values are the normalized residual stream itself, which the
// trained layers shape, so attention can still learn to find and copy tokens.
#include <ggml.h>
#include <gguf.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
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
  std::string vocab, out, name = "coolfusion-random", type = "f32";
  long dim = 64, layers = 2, heads = 4, kv_heads = 0, ff = 0, ctx = 512;
  unsigned long seed = 1;
  double std_dev = 0.02;
  long eos_id = -1;                // -1: the vocabulary's own
  std::string chat_template;       // "chatml" or a template text; empty: the vocabulary's own
  std::string chat_template_file;  // a file whose bytes are the template; empty: none
  bool kv_identity = false;        // attn_k / attn_v start as the identity (see --kv-init)
};

// The identity (rows x cols, ones where row == col) for the key and value projections.
void Identity(ggml_tensor* t) {
  for (int64_t r = 0; r < t->ne[1]; ++r)
    for (int64_t c = 0; c < t->ne[0]; ++c) {
      const float v = r == c ? 1.0f : 0.0f;
      if (t->type == GGML_TYPE_F32)
        ((float*)t->data)[r * t->ne[0] + c] = v;
      else
        ((ggml_fp16_t*)t->data)[r * t->ne[0] + c] = ggml_fp32_to_fp16(v);
    }
}

void Fill(ggml_tensor* t, std::mt19937_64& rng, double std_dev, bool ones) {
  const int64_t n = ggml_nelements(t);
  std::normal_distribution<float> nd(0.0f, (float)std_dev);
  if (t->type == GGML_TYPE_F32) {
    float* d = (float*)t->data;
    for (int64_t i = 0; i < n; ++i) d[i] = ones ? 1.0f : nd(rng);
  } else {
    ggml_fp16_t* d = (ggml_fp16_t*)t->data;
    for (int64_t i = 0; i < n; ++i) d[i] = ggml_fp32_to_fp16(ones ? 1.0f : nd(rng));
  }
}

// The whole of a file's bytes into *out; false and the reason (strerror) in *why when it
// cannot be opened or read.
bool ReadFile(const std::string& path, std::string* out, std::string* why) {
  out->clear();
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    *why = std::strerror(errno);
    return false;
  }
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  const bool failed = std::ferror(f);
  if (failed) *why = std::strerror(errno);
  std::fclose(f);
  return !failed;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      std::printf(
          "usage: coolfusion-make-model --vocab VOCAB.gguf --out OUT.gguf [--dim 64] [--layers 2] "
          "[--heads 4] [--kv-heads H] [--ff 4*dim] [--ctx 512] [--seed 1] [--type "
          "f32|f16|q8_0|q4_0] "
          "[--std 0.02] [--name NAME] [--eos-id ID] [--chat-template chatml|TEXT] "
          "[--chat-template-file FILE] [--kv-init random|identity]\n");
      return 0;
    }
    if (i + 1 >= argc) return Fail("missing value for " + k);
    const char* v = argv[++i];
    bool ok = true;
    if (k == "--vocab")
      a.vocab = v;
    else if (k == "--out")
      a.out = v;
    else if (k == "--name")
      a.name = v;
    else if (k == "--type") {
      a.type = v;
      ok = a.type == "f32" || a.type == "f16" || a.type == "q8_0" || a.type == "q4_0";
    } else if (k == "--dim")
      ok = ParseLong(v, 8, 65536, &a.dim);
    else if (k == "--layers")
      ok = ParseLong(v, 1, 1024, &a.layers);
    else if (k == "--heads")
      ok = ParseLong(v, 1, 1024, &a.heads);
    else if (k == "--kv-heads")
      ok = ParseLong(v, 1, 1024, &a.kv_heads);
    else if (k == "--ff")
      ok = ParseLong(v, 8, 1 << 20, &a.ff);
    else if (k == "--ctx")
      ok = ParseLong(v, 8, 1 << 20, &a.ctx);
    else if (k == "--seed") {
      long s;
      ok = ParseLong(v, 0, 1L << 40, &s);
      a.seed = (unsigned long)s;
    } else if (k == "--chat-template")
      a.chat_template = v;
    else if (k == "--chat-template-file")
      a.chat_template_file = v;
    else if (k == "--kv-init") {
      ok = !std::strcmp(v, "identity") || !std::strcmp(v, "random");
      a.kv_identity = !std::strcmp(v, "identity");
    } else if (k == "--eos-id")
      ok = ParseLong(v, 0, 1 << 30, &a.eos_id);
    else if (k == "--std")
      ok = ParseDouble(v, 0.0, 10.0, &a.std_dev) && a.std_dev > 0 && a.std_dev < 10;
    else
      return Fail("unknown argument: " + k + " (see --help)");
    if (!ok) return Fail("bad value for " + k + ": " + v);
  }
  if (a.vocab.empty() || a.out.empty()) return Fail("--vocab and --out are required");
  if (!a.chat_template_file.empty()) {
    if (!a.chat_template.empty())
      return Fail("give --chat-template or --chat-template-file, not both");
    std::string why;
    if (!ReadFile(a.chat_template_file, &a.chat_template, &why))
      return Fail("cannot read --chat-template-file " + a.chat_template_file + ": " + why);
    if (a.chat_template.empty())
      return Fail("--chat-template-file " + a.chat_template_file + " is empty");
    if (a.chat_template.find('\0') != std::string::npos)
      return Fail("--chat-template-file " + a.chat_template_file + " holds a NUL byte");
  }
  if (a.kv_heads == 0) a.kv_heads = a.heads;
  if (a.kv_identity && a.kv_heads != a.heads)
    return Fail("--kv-init identity needs --kv-heads equal to --heads");
  if (a.ff == 0) a.ff = 4 * a.dim;
  if (a.dim % a.heads != 0 || a.heads % a.kv_heads != 0)
    return Fail("--dim must divide by --heads, --heads by --kv-heads");
  if ((a.dim / a.heads) % 2 != 0) return Fail("head size (dim/heads) must be even for RoPE");

  gguf_init_params gp{/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* src = gguf_init_from_file(a.vocab.c_str(), gp);
  if (!src) return Fail("cannot read GGUF " + a.vocab);
  const int64_t kid = gguf_find_key(src, "tokenizer.ggml.tokens");
  if (kid < 0) return Fail(a.vocab + " has no tokenizer.ggml.tokens");
  const long n_vocab = (long)gguf_get_arr_n(src, kid);

  gguf_context* dst = gguf_init_empty();
  // The tokenizer: every tokenizer.* key of the source, unchanged.
  for (int64_t i = 0; i < gguf_get_n_kv(src); ++i) {
    const char* key = gguf_get_key(src, i);
    if (std::strncmp(key, "tokenizer.", 10) != 0) continue;
    const gguf_type t = gguf_get_kv_type(src, i);
    if (t == GGUF_TYPE_STRING) {
      gguf_set_val_str(dst, key, gguf_get_val_str(src, i));
    } else if (t == GGUF_TYPE_ARRAY) {
      const gguf_type at = gguf_get_arr_type(src, i);
      const size_t n = gguf_get_arr_n(src, i);
      if (at == GGUF_TYPE_STRING) {
        std::vector<const char*> s(n);
        for (size_t j = 0; j < n; ++j) s[j] = gguf_get_arr_str(src, i, j);
        gguf_set_arr_str(dst, key, s.data(), n);
      } else {
        gguf_set_arr_data(dst, key, at, gguf_get_arr_data(src, i), n);
      }
    } else {
      // Scalars: copy through a one-key context.
      switch (t) {
        case GGUF_TYPE_UINT32: gguf_set_val_u32(dst, key, gguf_get_val_u32(src, i)); break;
        case GGUF_TYPE_INT32: gguf_set_val_i32(dst, key, gguf_get_val_i32(src, i)); break;
        case GGUF_TYPE_BOOL: gguf_set_val_bool(dst, key, gguf_get_val_bool(src, i)); break;
        case GGUF_TYPE_FLOAT32: gguf_set_val_f32(dst, key, gguf_get_val_f32(src, i)); break;
        case GGUF_TYPE_UINT64: gguf_set_val_u64(dst, key, gguf_get_val_u64(src, i)); break;
        case GGUF_TYPE_INT64: gguf_set_val_i64(dst, key, gguf_get_val_i64(src, i)); break;
        case GGUF_TYPE_UINT8: gguf_set_val_u8(dst, key, gguf_get_val_u8(src, i)); break;
        case GGUF_TYPE_INT8: gguf_set_val_i8(dst, key, gguf_get_val_i8(src, i)); break;
        case GGUF_TYPE_UINT16: gguf_set_val_u16(dst, key, gguf_get_val_u16(src, i)); break;
        case GGUF_TYPE_INT16: gguf_set_val_i16(dst, key, gguf_get_val_i16(src, i)); break;
        case GGUF_TYPE_FLOAT64: gguf_set_val_f64(dst, key, gguf_get_val_f64(src, i)); break;
        default: break;
      }
    }
  }
  if (a.eos_id >= 0) {
    if (a.eos_id >= n_vocab)
      return Fail("--eos-id must be < the vocabulary size " + std::to_string(n_vocab));
    // A test model that ends generation where its greedy text reaches this token.
    gguf_set_val_u32(dst, "tokenizer.ggml.eos_token_id", (uint32_t)a.eos_id);
    gguf_remove_key(dst, "tokenizer.ggml.eot_token_id");
  }
  if (!a.chat_template.empty()) {
    const bool chatml = a.chat_template == "chatml" && a.chat_template_file.empty();
    const std::string t = chatml
                              ? "{% for message in messages %}{{'<|im_start|>' + message['role'] + "
                                "'\\n' + message['content'] + "
                                "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt "
                                "%}{{ '<|im_start|>assistant\\n' }}{% endif %}"
                              : a.chat_template;
    gguf_set_val_str(dst, "tokenizer.chat_template", t.c_str());
  }
  gguf_set_val_str(dst, "general.architecture", "llama");
  gguf_set_val_str(dst, "general.name", a.name.c_str());
  gguf_set_val_u32(dst, "llama.context_length", (uint32_t)a.ctx);
  gguf_set_val_u32(dst, "llama.embedding_length", (uint32_t)a.dim);
  gguf_set_val_u32(dst, "llama.block_count", (uint32_t)a.layers);
  gguf_set_val_u32(dst, "llama.feed_forward_length", (uint32_t)a.ff);
  gguf_set_val_u32(dst, "llama.attention.head_count", (uint32_t)a.heads);
  gguf_set_val_u32(dst, "llama.attention.head_count_kv", (uint32_t)a.kv_heads);
  gguf_set_val_u32(dst, "llama.rope.dimension_count", (uint32_t)(a.dim / a.heads));
  gguf_set_val_f32(dst, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  gguf_set_val_u32(dst, "llama.vocab_size", (uint32_t)n_vocab);

  const bool quantize = a.type == "q8_0" || a.type == "q4_0";
  const ggml_type wt = a.type == "f32" ? GGML_TYPE_F32 : GGML_TYPE_F16;
  const long kv_dim = a.dim / a.heads * a.kv_heads;
  struct Spec {
    std::string name;
    long ne0, ne1;
    bool norm;
  };
  std::vector<Spec> specs = {{"token_embd.weight", a.dim, n_vocab, false}};
  for (long l = 0; l < a.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    specs.push_back({p + "attn_norm.weight", a.dim, 1, true});
    specs.push_back({p + "attn_q.weight", a.dim, a.dim, false});
    specs.push_back({p + "attn_k.weight", a.dim, kv_dim, false});
    specs.push_back({p + "attn_v.weight", a.dim, kv_dim, false});
    specs.push_back({p + "attn_output.weight", a.dim, a.dim, false});
    specs.push_back({p + "ffn_norm.weight", a.dim, 1, true});
    specs.push_back({p + "ffn_gate.weight", a.dim, a.ff, false});
    specs.push_back({p + "ffn_down.weight", a.ff, a.dim, false});
    specs.push_back({p + "ffn_up.weight", a.dim, a.ff, false});
  }
  specs.push_back({"output_norm.weight", a.dim, 1, true});
  specs.push_back({"output.weight", a.dim, n_vocab, false});

  size_t bytes = 0;
  uint64_t n_params = 0;
  for (const auto& s : specs) {
    const ggml_type t = s.norm ? GGML_TYPE_F32 : wt;
    bytes += ggml_row_size(t, s.ne0) * s.ne1 + 256;
    n_params += (uint64_t)s.ne0 * s.ne1;
  }
  ggml_init_params ip{bytes + specs.size() * ggml_tensor_overhead() + (1 << 20), nullptr, false};
  ggml_context* ctx = ggml_init(ip);
  if (!ctx) return Fail("out of memory allocating " + std::to_string(bytes) + " bytes of weights");
  std::mt19937_64 rng(a.seed);
  for (const auto& s : specs) {
    ggml_tensor* t = s.norm ? ggml_new_tensor_1d(ctx, GGML_TYPE_F32, s.ne0)
                            : ggml_new_tensor_2d(ctx, wt, s.ne0, s.ne1);
    ggml_set_name(t, s.name.c_str());
    Fill(t, rng, a.std_dev, s.norm);
    if (a.kv_identity && (s.name.find("attn_k.") != std::string::npos ||
                          s.name.find("attn_v.") != std::string::npos))
      Identity(t);
    gguf_add_tensor(dst, t);
  }
  const std::string path = quantize ? a.out + ".f16.tmp" : a.out;
  if (!gguf_write_to_file(dst, path.c_str(), false)) return Fail("cannot write " + path);
  if (quantize) {
    llama_log_set(QuietLlamaLog, nullptr);
    llama_backend_init();
    const bool ok =
        QuantizeGguf(path, a.out, a.type, (int)std::max(1u, std::thread::hardware_concurrency()));
    std::remove(path.c_str());
    if (!ok) return Fail("cannot quantize " + a.out + " to " + a.type);
  }
  std::fprintf(stderr, "wrote %s: %.1fM parameters, vocab %ld (%s), dim %ld, %ld layers, %s\n",
               a.out.c_str(), n_params / 1e6, n_vocab, a.vocab.c_str(), a.dim, a.layers,
               a.type.c_str());
  ggml_free(ctx);
  gguf_free(dst);
  gguf_free(src);
  return 0;
}
