#include "fusion/prompt_weights.h"

#include <algorithm>
#include <cmath>

namespace coolfusion {

std::vector<size_t> CountedTokenBytes(const std::string& text, const std::vector<size_t>& ends,
                                      const std::vector<std::pair<size_t, size_t>>& content,
                                      size_t window) {
  std::vector<size_t> bytes(ends.size(), 0);
  size_t skip_to = 0;
  if (!content.empty() && content.front().first == 0) {
    skip_to = text.find_first_of(" \n\t", 1);
    if (skip_to == std::string::npos) skip_to = text.size();
  }
  // The window: where the last `window` bytes of content begin.
  size_t left = window;
  for (auto it = content.rbegin(); it != content.rend(); ++it) {
    const size_t len = it->second - it->first;
    if (len >= left) {
      skip_to = std::max(skip_to, it->second - left);
      break;
    }
    left -= len;
  }
  for (size_t i = 1; i < ends.size(); ++i) {
    const size_t b = ends[i - 1], e = ends[i];
    if (e <= b || b < skip_to) continue;
    for (const auto& [cb, ce] : content) {
      if (b < ce && cb < e) {
        bytes[i] = e - b;
        break;
      }
    }
  }
  return bytes;
}

std::vector<double> PromptWeights(const std::vector<double>& bits_per_byte,
                                  const std::vector<size_t>& bytes, const std::vector<double>& user,
                                  const std::vector<bool>& included, double temp, double sit_out,
                                  double evidence) {
  const size_t n = user.size();
  double best = INFINITY;
  size_t best_bytes = 0;
  for (size_t v = 0; v < n; ++v) {
    if (included[v] && user[v] > 0 && std::isfinite(bits_per_byte[v]) && bits_per_byte[v] < best) {
      best = bits_per_byte[v];
      best_bytes = bytes[v];
    }
  }
  std::vector<double> w(n, 0.0);
  double top = 0;
  for (size_t v = 0; v < n; ++v) {
    if (!included[v] || !(user[v] > 0)) continue;
    double excess = std::isfinite(bits_per_byte[v]) ? bits_per_byte[v] - best : 0.0;
    double t = temp;
    if (evidence > 0 && excess > 0) {
      const size_t seen = std::min(bytes[v], best_bytes);
      if (seen == 0)
        excess = 0;
      else
        t = temp * std::max(1.0, evidence / (double)seen);
    }
    w[v] = user[v] * std::exp(-excess / t);
    top = std::max(top, w[v]);
  }
  if (top <= 0) return std::vector<double>(n, 0.0);
  for (double& x : w) {
    x /= top;
    if (x < sit_out) x = 0;
  }
  return w;
}

}  // namespace coolfusion
