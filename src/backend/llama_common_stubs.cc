// The helpers of llama.cpp's common.cpp and log.cpp that its chat library (common/chat*.cpp,
// peg-parser.cpp, compiled into coolfusion_llama_common for Jinja chat templates) calls.
// common.cpp itself is not built: it would pull in sampling, speculative decoding, model
// fitting and downloads. These are common.cpp's definitions (tokenizing is used to find a
// template's message delimiters), except the log: log.cpp runs a worker thread that
// prints to stdout, so llama.cpp's chat messages are dropped here (its errors reach us as
// exceptions, which jinja_template.cc turns into a Status).
#include <common.h>
#include <llama.h>
#include <log.h>

#include <limits>
#include <stdexcept>

void string_replace_all(std::string& s, const std::string& search, const std::string& replace) {
  if (search.empty()) return;
  std::string builder;
  builder.reserve(s.length());
  size_t pos = 0, last_pos = 0;
  while ((pos = s.find(search, last_pos)) != std::string::npos) {
    builder.append(s, last_pos, pos - last_pos);
    builder.append(replace);
    last_pos = pos + search.length();
  }
  builder.append(s, last_pos, std::string::npos);
  s = std::move(builder);
}

std::vector<llama_token> common_tokenize(const struct llama_vocab* vocab, const std::string& text,
                                         bool add_special, bool parse_special) {
  std::vector<llama_token> result(text.length() + 2 * add_special);
  int n = llama_tokenize(vocab, text.data(), (int32_t)text.length(), result.data(),
                         (int32_t)result.size(), add_special, parse_special);
  if (n == std::numeric_limits<int32_t>::min())
    throw std::runtime_error("Tokenization failed: input text too large");
  if (n < 0) {
    result.resize(-n);
    n = llama_tokenize(vocab, text.data(), (int32_t)text.length(), result.data(),
                       (int32_t)result.size(), add_special, parse_special);
  }
  result.resize(n < 0 ? 0 : n);
  return result;
}

std::string common_token_to_piece(const struct llama_vocab* vocab, llama_token token,
                                  bool special) {
  std::string piece(16, '\0');
  int n = llama_token_to_piece(vocab, token, piece.data(), (int32_t)piece.size(), 0, special);
  if (n < 0) {
    piece.resize(-n);
    n = llama_token_to_piece(vocab, token, piece.data(), (int32_t)piece.size(), 0, special);
  }
  piece.resize(n < 0 ? 0 : n);
  return piece;
}

// Below every level: LOG_* (log.h) then never formats or calls common_log_add.
int common_log_get_verbosity_thold() { return -1; }
struct common_log* common_log_main() {
  return nullptr;
}
void common_log_add(struct common_log*, enum ggml_log_level, const char*, ...) {}
