// llama.cpp helpers shared by the project tools that write models (coolfusion-make-model,
// coolfusion-train): quiet logging and GGUF conversion to f32, f16, q8_0 or q4_0.
#pragma once

#include <llama.h>

#include <cstdio>
#include <string>

namespace coolfusion::tools {

// llama.cpp's progress lines are noise in these tools; its errors still reach stderr.
inline void QuietLlamaLog(ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

// Converts the GGUF at `in` to `type` ("f32", "f16", "q8_0" or "q4_0") at `out` with
// llama_model_quantize; `overrides` (null, or ending with an empty key) are written into
// the output's metadata. Returns false on an unknown type or a failed conversion.
inline bool QuantizeGguf(const std::string& in, const std::string& out, const std::string& type,
                         int threads, const llama_model_kv_override* overrides = nullptr) {
  llama_model_quantize_params qp = llama_model_quantize_default_params();
  if (type == "f32")
    qp.ftype = LLAMA_FTYPE_ALL_F32;
  else if (type == "f16")
    qp.ftype = LLAMA_FTYPE_MOSTLY_F16;
  else if (type == "q8_0")
    qp.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
  else if (type == "q4_0")
    qp.ftype = LLAMA_FTYPE_MOSTLY_Q4_0;
  else
    return false;
  qp.nthread = threads;
  qp.kv_overrides = overrides;
  return llama_model_quantize(in.c_str(), out.c_str(), &qp) == 0;
}

}  // namespace coolfusion::tools
