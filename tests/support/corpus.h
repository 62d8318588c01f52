// Varied test texts: English, code, digits, CJK, emoji, mixed whitespace and newlines,
// contractions, accents, RTL scripts. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace coolfusion::testing {

inline const std::vector<std::string>& Fragments() {
  static const std::vector<std::string> f = {
      "Once upon a time",
      " there was",
      " a little girl",
      " named Lily.",
      " She loved to play",
      "Hello, world!",
      "It's",
      " don't",
      " they'll",
      " we've",
      " I'm",
      " O'Neil's",
      "rock'n'roll",
      "int main(void) { return 0; }",
      "for (int i = 0; i < n; ++i) x[i] += y[i];",
      "def f(x):\n    return x**2",
      "  indented",
      "\ttab\tseparated",
      "trailing   ",
      "\n",
      "\n\n",
      "\r\n",
      " \n ",
      "   ",
      "\t\n",
      "3.14159",
      " 1,000,000",
      " 2026-11-26",
      " 12345678901234",
      " $19.99",
      " 50%",
      " v2.0.1",
      "0x1F",
      "A1B2C3",
      " 3rd",
      " 1st-place",
      "日本語のテキスト",
      "中文文本测试",
      "한국어 문장",
      "東京タワー",
      "。",
      "、",
      "😀",
      " 👍🏽",
      "👨‍👩‍👧‍👦",
      "🇫🇷🇩🇪",
      " ❤️",
      "✨✨",
      "café",
      " naïve",
      " Zürich",
      " façade",
      " crème brûlée",
      "e\xCC\x81",
      " Ελληνικά",
      " русский текст",
      " مرحبا بالعالم",
      " שלום",
      " हिन्दी",
      "e.g.",
      " U.S.A.",
      " Mr. Smith",
      "...",
      " -- ",
      " — ",
      "\"quoted\"",
      " (paren)",
      " [brackets]",
      " user@example.com",
      " https://example.org/a?b=c",
      " snake_case_name",
      " camelCaseName",
      " kebab-case",
      "#hashtag",
      " @mention",
      " a+b=c",
      " x<y>z",
      " ~/path/to/file.txt",
      " C++",
      " C#",
  };
  return f;
}

// Texts of 1..12 fragments, joined with nothing or a random separator.
inline std::vector<std::string> MakeCorpus(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const auto& f = Fragments();
  const std::vector<std::string> seps = {"", "", "", " ", "  ", "\n", "\t", ", ", ". "};
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t k = 1 + rng() % 12;
    std::string t;
    for (size_t j = 0; j < k; ++j) {
      if (j > 0) t += seps[rng() % seps.size()];
      t += f[rng() % f.size()];
    }
    out.push_back(t);
  }
  return out;
}

// Texts in one script written without ASCII words: Chinese and Japanese (no spaces, clause
// marks), Thai (spaces between phrases), Arabic and Hindi (spaces and their own marks).
// Fragments are joined with nothing, a mark, a space or a newline, so anchors sit after
// letters, marks, digits, emoji and spaces alike.
inline const std::vector<std::pair<std::string, std::vector<std::string>>>& ScriptFragments() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> f = {
      {"Chinese",
       {"我们今天去公园散步", "天气很好", "孩子们在草地上玩耍", "他说：", "你好吗？", "真的！",
        "这是第一次", "中文文本测试", "（注释）", "我们", "的", "了", "在", "２０２６年", "3个",
        "「引用」", "😀"}},
      {"Japanese",
       {"古い灯台は川が海に出会う細い岬の先に立っていた", "毎晩", "灯台守は階段を上って",
        "明かりを灯し", "天気や通り過ぎた船のことを日誌に書いた", "東京タワー", "「こんにちは」",
        "と言った", "『本』", "カタカナ", "ひらがな", "です", "ます", "１２３"}},
      {"Thai",
       {"สวัสดีครับ", "วันนี้อากาศดี", "เด็กๆ เล่นในสวน", "ประเทศไทย", "ภาษาไทย", "ขอบคุณ", "ไม่เป็นไร", "๑๒๓",
        "ฯลฯ", "กรุงเทพฯ"}},
      {"Arabic",
       {"مرحبا بالعالم", "كيف حالك", "ذهبنا إلى الحديقة", "الطقس جميل اليوم", "شكرا", "هل أنت بخير",
        "اللغة العربية", "١٢٣", "نعم"}},
      {"Hindi",
       {"नमस्ते दुनिया", "आज मौसम अच्छा है", "बच्चे बगीचे में खेल रहे हैं", "धन्यवाद", "क्या आप ठीक हैं",
        "हिन्दी भाषा", "१२३"}},
  };
  return f;
}

// n texts of 1..16 fragments of one script (ScriptFragments), deterministic for a seed.
inline std::vector<std::string> MakeScriptCorpus(const std::vector<std::string>& fragments,
                                                 size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<std::string> seps = {"",   "",   "。", "、", "，", "？", "！", " ",
                                         "  ", "\n", "،",  "؟",  "।",  "：", "」", ", "};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    const size_t k = 1 + rng() % 16;
    std::string t;
    for (size_t j = 0; j < k; ++j) {
      if (j > 0) t += seps[rng() % seps.size()];
      t += fragments[rng() % fragments.size()];
    }
    if (rng() % 3 == 0) t += seps[2 + rng() % 5];
    out.push_back(t);
  }
  return out;
}

}  // namespace coolfusion::testing
