#include "align/word_breaks.h"
#include "base/utf8.h"

#include <gtest/gtest.h>

namespace coolfusion {
namespace {

std::vector<size_t> B(const std::string& s) {
  std::vector<size_t> out;
  WordBoundaries(s, &out);
  return out;
}

TEST(WordBreaks, EnglishWordsSpacesAndPunctuation) {
  // "Hello, world!" -> Hello|,| |world|!
  EXPECT_EQ(B("Hello, world!"), (std::vector<size_t>{5, 6, 7, 12, 13}));
}

TEST(WordBreaks, ContractionsAndNumbersStayWhole) {
  EXPECT_EQ(B("don't"), (std::vector<size_t>{5}));
  EXPECT_EQ(B("3.14"), (std::vector<size_t>{4}));
  EXPECT_EQ(B("a  b"), (std::vector<size_t>{1, 3, 4}));  // runs of spaces stay together
}

TEST(WordBreaks, OffsetsAreBytesOfUtf8) {
  // "café x": é is 2 bytes.
  EXPECT_EQ(B("caf\xC3\xA9 x"), (std::vector<size_t>{5, 6, 7}));
  // An emoji ZWJ family is one segment of 25 bytes.
  EXPECT_EQ(B("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7"),
            (std::vector<size_t>{18}));
}

TEST(WordBreaks, EmptyTextHasNoBoundaries) { EXPECT_TRUE(B("").empty()); }

TEST(Utf8, ValidatesAndLocatesErrors) {
  size_t bad = 99;
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xE6\x97\xA5\xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("ab\xFF", &bad));
  EXPECT_EQ(bad, 2u);
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF", &bad));       // overlong
  EXPECT_FALSE(IsValidUtf8("x\xED\xA0\x80", &bad));  // lone surrogate U+D800
  EXPECT_EQ(bad, 1u);
  EXPECT_FALSE(IsValidUtf8("\xE6\x97", &bad));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80", &bad));  // > U+10FFFF
}

TEST(Utf8, CompletePrefixDropsOnlyATruncatedTail) {
  EXPECT_EQ(CompleteUtf8Prefix("ab"), 2u);
  EXPECT_EQ(CompleteUtf8Prefix("ab\xE6\x97"), 2u);
  EXPECT_EQ(CompleteUtf8Prefix("ab\xE6\x97\xA5"), 5u);
  EXPECT_EQ(CompleteUtf8Prefix("\xF0\x9F\x98"), 0u);
}

TEST(Utf8, ToValidReplacesEachIllFormedByte) {
  EXPECT_EQ(ToValidUtf8("ok"), "ok");
  EXPECT_EQ(ToValidUtf8("a\xFF"
                        "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(ToValidUtf8("\xE6\x97"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated: each byte replaced
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("x\xED\xA0\x80y\xC0\xAF")));
}

}  // namespace
}  // namespace coolfusion
