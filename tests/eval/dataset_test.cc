// The eval readers: every format of shared/data/datasets loads, answers are extracted
// and matched as a user would score them, and bad input is an error naming the line.
#include "eval/dataset.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/paths.h"

namespace coolfusion::eval {
namespace {

Task T(const char* name) {
  Task t;
  EXPECT_TRUE(FindTask(name, &t).ok()) << name;
  return t;
}

TEST(EvalDataset, Gsm8kRowsIgnoreExtraFieldsAndCountBlankLines) {
  Dataset d;
  const std::string jsonl =
      "{\"question\": \"Q1?\", \"answer\": \"2 + 3 = 5\\n#### 5\", \"id\": 7, \"extra\": [1]}\n"
      "\n   \n"
      "{\"question\": \"Q2?\", \"answer\": \"so #### 1,234\"}\n";
  ASSERT_TRUE(ParseDataset(T("gsm8k"), jsonl, "f.jsonl", &d).ok());
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.blank_lines, 2u);
  EXPECT_EQ(d.examples[0].gold, "5");
  EXPECT_EQ(d.examples[1].gold, "1234");
  EXPECT_EQ(d.examples[1].where, "f.jsonl:4");
}

TEST(EvalDataset, BadRowsAreErrorsNamingTheLine) {
  Dataset d;
  Status s = ParseDataset(T("gsm8k"), "{\"question\":\"a\",\"answer\":\"#### 1\"}\n{oops\n",
                          "x.jsonl", &d);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("x.jsonl:2"), std::string::npos) << s.message();
  s = ParseDataset(T("gsm8k"), "{\"question\":\"a\",\"answer\":\"no final answer\"}\n", "y.jsonl",
                   &d);
  EXPECT_NE(s.message().find("y.jsonl:1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("####"), std::string::npos) << s.message();
  s = ParseDataset(T("gsm8k"), "{\"question\":\"a\"}\n", "z.jsonl", &d);
  EXPECT_NE(s.message().find("z.jsonl:1: no \"answer\""), std::string::npos) << s.message();
  s = ParseDataset(T("gsm8k"), "", "empty.jsonl", &d);
  EXPECT_NE(s.message().find("empty.jsonl: no rows"), std::string::npos) << s.message();
  s = ParseDataset(T("gsm8k"), "\n\n", "blank.jsonl", &d);
  EXPECT_FALSE(s.ok());
  s = ParseDataset(T("gsm8k"), "{\"question\":\"\xff\",\"answer\":\"#### 1\"}", "u.jsonl", &d);
  EXPECT_NE(s.message().find("invalid UTF-8"), std::string::npos) << s.message();
  s = ParseDataset(T("svamp"),
                   "[{\"Body\":\"b\",\"Question\":\"q\",\"Answer\":1},{\"Body\":\"b\"}]", "s.json",
                   &d);
  EXPECT_NE(s.message().find("s.json[#2]"), std::string::npos) << s.message();
  Task t;
  EXPECT_NE(FindTask("nope", &t).message().find("gsm8k"), std::string::npos);
}

TEST(EvalDataset, EveryFormatOfTheSharedDatasetsLoads) {
  const std::string root = testing::SharedModelDir() + "/../datasets/";
  struct Case {
    const char* task;
    const char* file;
    size_t rows;
    const char* first_gold;
  } cases[] = {
      {"gsm8k", "gsm8k/test.jsonl", 1319, "18"},
      {"svamp", "svamp/SVAMP.json", 1000, "51"},
      {"multiarith", "auto_cot_sets/MultiArith/MultiArith.json", 600, "39"},
      {"addsub", "auto_cot_sets/AddSub/AddSub.json", 395, "43"},
      {"singleeq", "auto_cot_sets/SingleEq/questions.json", 508, "43"},
      {"aqua", "auto_cot_sets/AQuA/test.json", 254, "A"},
      {"commonsenseqa", "auto_cot_sets/CommonsenseQA/dev_rand_split.jsonl", 1221, "A"},
      {"strategyqa", "auto_cot_sets/StrategyQA/task.json", 2290, "yes"},
      {"coin_flip", "auto_cot_sets/coin_flip/coin_flip.json", 500, "yes"},
      {"last_letters", "auto_cot_sets/last_letters/last_letters.json", 500, "yajo"},
  };
  for (const auto& c : cases) {
    if (!std::ifstream(root + c.file)) GTEST_FAIL() << "missing shared dataset " << root + c.file;
    Dataset d;
    const Status s = LoadDataset(T(c.task), root + c.file, &d);
    ASSERT_TRUE(s.ok()) << c.task << ": " << s.message();
    EXPECT_EQ(d.examples.size(), c.rows) << c.task;
    EXPECT_EQ(d.examples[0].gold, c.first_gold) << c.task;
    EXPECT_FALSE(d.examples[0].question.empty()) << c.task;
  }
}

TEST(EvalDataset, AnswerExtraction) {
  EXPECT_EQ(ExtractAnswer(AnswerKind::kNumber, " 3 + 4 = 7\n#### 7"), "7");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kNumber, "It costs $1,200.50 then 18 eggs"), "18");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kNumber, "#### -3"), "-3");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kNumber, "12 - 5 = 7"), "7");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kNumber, " blue\n#### blue"), "blue");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kNumber, "no numbers"), "");
  EXPECT_TRUE(AnswerMatches(AnswerKind::kNumber, "39", "39"));
  EXPECT_TRUE(AnswerMatches(AnswerKind::kNumber, "39.0", "39"));
  EXPECT_FALSE(AnswerMatches(AnswerKind::kNumber, "", "39"));
  EXPECT_TRUE(AnswerMatches(AnswerKind::kNumber, "Blue", "blue"));
  EXPECT_EQ(ExtractAnswer(AnswerKind::kChoice, "The answer is (C) because A is wrong"), "C");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kChoice, "Because...\n#### B"), "B");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kYesNo, " No, it is not."), "no");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kYesNo, "Nothing; yes."), "yes");
  EXPECT_EQ(ExtractAnswer(AnswerKind::kText, " \"yajo\"."), "yajo");
}

TEST(EvalDataset, PromptsAndIntervals) {
  Example a{"Q1", "A1\n#### 1", "1", "f:1"}, b{"Q2", "", "2", "f:2"};
  EXPECT_EQ(BuildPrompt(b, {}), "Question: Q2\nAnswer:");
  EXPECT_EQ(BuildPrompt(b, {a}), "Question: Q1\nAnswer: A1\n#### 1\n\nQuestion: Q2\nAnswer:");
  double lo, hi;
  Wilson95(50, 100, &lo, &hi);
  EXPECT_NEAR(lo, 0.4038, 1e-3);
  EXPECT_NEAR(hi, 0.5962, 1e-3);
  Wilson95(0, 20, &lo, &hi);
  EXPECT_EQ(lo, 0.0);
  EXPECT_NEAR(hi, 0.1611, 1e-3);
}

}  // namespace
}  // namespace coolfusion::eval
