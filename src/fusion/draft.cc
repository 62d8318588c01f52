#include "fusion/draft.h"

#include <algorithm>

namespace coolfusion {

Draft Draft::Past(size_t cut) const {
  Draft c;
  c.model = model;
  const size_t cut_bytes = cut > 0 ? ends[cut - 1] : 0;
  c.tokens.assign(tokens.begin() + cut, tokens.end());
  for (size_t i = cut; i < ends.size(); ++i) c.ends.push_back(ends[i] - cut_bytes);
  c.text = text.substr(cut_bytes);
  c.after.assign(after.begin() + std::min(cut, after.size()), after.end());
  c.n_decoded = n_decoded - (int)cut;
  c.eog = eog;
  c.eog_token = eog_token;
  return c;
}

}  // namespace coolfusion
