// FakeTokenizer: a vocabulary for tests that need a tokenizer but no model (alignment,
// the step aligner). Deterministic and tiny, so a test can say exactly which tokens a
// text gets.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "backend/piece_joins.h"
#include "backend/tokenizer.h"

namespace coolfusion::testing {

// A fake vocabulary: greedy longest match over a fixed list of pieces (token t is
// pieces[t]); text it cannot match is InvalidArgument. No space prefix.
class FakeTokenizer : public Tokenizer {
 public:
  explicit FakeTokenizer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {
    for (const std::string& p : pieces_) joins_.Add(p);
    joins_.Finish();
  }
  Status Tokenize(std::string_view text, bool, bool, std::vector<Token>* out) const override {
    out->clear();
    size_t i = 0;
    while (i < text.size()) {
      int best = -1;
      for (size_t t = 0; t < pieces_.size(); ++t) {
        if (text.substr(i, pieces_[t].size()) == pieces_[t] &&
            (best < 0 || pieces_[t].size() > pieces_[best].size())) {
          best = (int)t;
        }
      }
      if (best < 0) return Status::InvalidArgument("cannot encode");
      out->push_back(best);
      i += pieces_[best].size();
    }
    return Status::Ok();
  }
  std::string_view Piece(Token t) const override { return pieces_[t]; }
  bool AddsSpacePrefix() const override { return false; }
  bool Joins(char32_t before, char32_t at) const override { return joins_.Joins(before, at); }

 private:
  std::vector<std::string> pieces_;
  PieceJoins joins_;
};

}  // namespace coolfusion::testing
