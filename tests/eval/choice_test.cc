// The multiple-choice readers (eval/choice.h): each layout, lm-evaluation-harness's prompts
// and HellaSwag preprocessing, few-shot prompts, the argmin's ties, and every malformed row
// an error naming its line.
#include "eval/choice.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/paths.h"

namespace coolfusion::eval {
namespace {

ChoiceExample One(const std::string& task, const std::string& row) {
  ChoiceDataset d;
  const Status s = ParseChoiceDataset(task, row, "f.jsonl", &d);
  EXPECT_TRUE(s.ok()) << s.message();
  return d.examples.empty() ? ChoiceExample{} : d.examples[0];
}

// The error for `rows` under `task`; fails the test when there is none.
std::string Error(const std::string& task, const std::string& rows) {
  ChoiceDataset d;
  const Status s = ParseChoiceDataset(task, rows, "bad.jsonl", &d);
  EXPECT_FALSE(s.ok()) << rows;
  return s.message();
}

TEST(ChoiceDataset, TheGenericLayoutTakesAnIndexALetterOrTheChoicesText) {
  const std::string q = "{\"question\": \"2 + 2?\", \"choices\": [\"3\", \"4\", \"5\"], ";
  ChoiceExample ex = One("choice", q + "\"answer\": 1}");
  EXPECT_EQ(ex.prompt, "Question: 2 + 2?\nAnswer:");
  EXPECT_EQ(ex.choices, (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(ex.gold, 1);
  EXPECT_EQ(ex.where, "f.jsonl:1");
  EXPECT_EQ(One("choice", q + "\"answer\": \"B\"}").gold, 1);
  EXPECT_EQ(One("choice", q + "\"answer\": \"5\"}").gold, 2);
  EXPECT_EQ(ChoiceContinuation("4"), " 4");
  // A letter that is also a choice's text at its own position is no ambiguity.
  EXPECT_EQ(
      One("choice", "{\"question\": \"q\", \"choices\": [\"A\", \"x\"], \"answer\": \"A\"}").gold,
      0);
}

TEST(ChoiceDataset, ArcInBothLayoutsAndHellaswagAsTheHarnessPromptsThem) {
  const ChoiceExample arc =
      One("arc",
          "{\"id\": \"Mercury_1\", \"question\": {\"stem\": \"Which is a gas?\", \"choices\": "
          "[{\"text\": \"ice\", \"label\": \"A\"}, {\"text\": \"steam\", \"label\": \"B\"}, "
          "{\"text\": \"wood\", \"label\": \"C\"}]}, \"answerKey\": \"B\"}");
  EXPECT_EQ(arc.prompt, "Question: Which is a gas?\nAnswer:");
  EXPECT_EQ(arc.choices, (std::vector<std::string>{"ice", "steam", "wood"}));
  EXPECT_EQ(arc.gold, 1);
  const ChoiceExample hf =
      One("arc",
          "{\"question\": \"Which is a gas?\", \"choices\": {\"text\": [\"ice\", \"steam\"], "
          "\"label\": [\"1\", \"2\"]}, \"answerKey\": \"2\"}");
  EXPECT_EQ(hf.prompt, arc.prompt);
  EXPECT_EQ(hf.gold, 1);
  // HellaSwag from Hugging Face: the query built from activity_label, ctx_a and ctx_b
  // (ctx_b capitalized: first letter up, the rest down), everything preprocessed.
  const ChoiceExample hs =
      One("hellaswag",
          "{\"activity_label\": \"Removing ice from car\", \"ctx_a\": \"Then, the man writes "
          "over the snow [header] covering the window.\", \"ctx_b\": \"then A woman\", \"ctx\": "
          "\"ignored\", \"endings\": [\" is seen [step] standing.\", \"walks  away.\"], "
          "\"label\": \"1\"}");
  EXPECT_EQ(hs.prompt,
            "Removing ice from car: Then, the man writes over the snow covering the window. Then "
            "a woman");
  EXPECT_EQ(hs.choices, (std::vector<std::string>{"is seen standing.", "walks away."}));
  EXPECT_EQ(hs.gold, 1);
  // Only ctx: preprocessed as it is; the label a number.
  const ChoiceExample ctx =
      One("hellaswag",
          "{\"ctx\": \" A cat [title] sits.\", \"endings\": [\"a\", \"b\"], \"label\": 0}");
  EXPECT_EQ(ctx.prompt, "A cat. sits.");
  EXPECT_EQ(ctx.gold, 0);
  // --task choice reads every layout, row by row.
  ChoiceDataset d;
  ASSERT_TRUE(
      ParseChoiceDataset("choice",
                         "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n"
                         "\n"
                         "{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 1}\n",
                         "mixed.jsonl", &d)
          .ok());
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.blank_lines, 1u);
  EXPECT_EQ(d.examples[1].where, "mixed.jsonl:3");
}

TEST(ChoiceDataset, HellaswagPreprocessIsTheHarnesss) {
  EXPECT_EQ(HellaswagPreprocess("  a [title] b  "), "a. b");
  EXPECT_EQ(HellaswagPreprocess("x [a] y [b] z"), "x y z");  // shortest brackets, each gone
  EXPECT_EQ(HellaswagPreprocess("a   b"), "a  b");           // one pass, not overlapping
  EXPECT_EQ(HellaswagPreprocess("open [ no close"), "open [ no close");
  EXPECT_EQ(HellaswagPreprocess("[a\nb]"), "[a\nb]");  // "." does not cross a newline
}

TEST(ChoiceDataset, FewShotPromptsCarryEachShotsRightChoice) {
  ChoiceDataset d;
  ASSERT_TRUE(
      ParseChoiceDataset("choice",
                         "{\"question\": \"q1\", \"choices\": [\"a\", \"b\"], \"answer\": 1}\n"
                         "{\"question\": \"q2\", \"choices\": [\"c\", \"d\"], \"answer\": 0}\n",
                         "s.jsonl", &d)
          .ok());
  EXPECT_EQ(BuildChoicePrompt(d.examples[1], {d.examples[0]}),
            "Question: q1\nAnswer: b\n\nQuestion: q2\nAnswer:");
  EXPECT_EQ(BuildChoicePrompt(d.examples[1], {}), "Question: q2\nAnswer:");
}

TEST(ChoiceDataset, MalformedRowsAreErrorsNamingTheLine) {
  const std::string ok = "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n";
  auto expect = [](const std::string& message, const std::string& want) {
    EXPECT_NE(message.find(want), std::string::npos) << "want \"" << want << "\" in: " << message;
  };
  expect(Error("choice", ok + "{oops\n"), "bad.jsonl:2: not valid JSON");
  expect(Error("choice", ok + "[1, 2]\n"), "bad.jsonl:2: not a JSON object");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [], \"answer\": 0}"),
         "bad.jsonl:1: no choices (an empty list)");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"a\"], \"answer\": 0}"),
         "one choice only");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 2}"),
         "bad.jsonl:1: the answer's index 2 is out of range (2 choices: 0..1)");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": -1}"),
         "index -1 is out of range");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": \"C\"}"),
         "\"answer\" \"C\" names no choice (2 choices: A..B)");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": \"zz\"}"),
         "is neither a choice's text nor a letter");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 1.5}"),
         "neither an index");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"B\", \"x\"], \"answer\": \"B\"}"),
         "ambiguous");
  expect(
      Error("choice", "{\"question\": \"q\", \"choices\": [\"a\", \"b\", \"a\"], \"answer\": 0}"),
      "bad.jsonl:1: choices 1 and 3 are the same text (\"a\")");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"a\", \"\"], \"answer\": 0}"),
         "choice 2 is empty");
  expect(Error("choice", "{\"question\": \"q\", \"choices\": [\"a\", 3], \"answer\": 0}"),
         "\"choices\" item 2 is not a string");
  expect(Error("choice", "{\"question\": \" \", \"choices\": [\"a\", \"b\"], \"answer\": 0}"),
         "empty question");
  expect(Error("choice", "{\"question\": \"q\", \"answer\": 0}"), "not a multiple-choice row");
  expect(Error("arc", ok),
         "bad.jsonl:1: a {\"question\", \"choices\", \"answer\"} row, not --task arc's");
  expect(Error("hellaswag", ok), "not --task hellaswag's layout");
  expect(Error("arc",
               "{\"question\": \"q\", \"choices\": {\"text\": [\"a\", \"b\"], \"label\": [\"A\", "
               "\"B\"]}, \"answerKey\": \"E\"}"),
         "\"answerKey\" \"E\" is not one of the choices' labels");
  expect(Error("arc",
               "{\"question\": \"q\", \"choices\": {\"text\": [\"a\", \"b\"], \"label\": [\"A\"]}, "
               "\"answerKey\": \"A\"}"),
         "2 choices but 1 labels");
  expect(
      Error("arc",
            "{\"question\": {\"stem\": \"q\", \"choices\": [{\"text\": \"a\", \"label\": \"A\"}, "
            "{\"text\": \"a\", \"label\": \"B\"}]}, \"answerKey\": \"A\"}"),
      "the same text");
  expect(Error("hellaswag", "{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": \"x\"}"),
         "\"label\" \"x\" is not an index");
  expect(Error("hellaswag", "{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 4}"),
         "out of range");
  expect(Error("hellaswag", "{\"ctx\": \"c\", \"endings\": [\"a [x] b\", \"a b\"], \"label\": 0}"),
         "the same text");  // equal once preprocessed
  expect(Error("hellaswag", "{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"]}"), "no \"label\"");
  expect(Error("choice", ""), "bad.jsonl: no rows");
  expect(Error("choice", "{\"question\": \"\xff\"}"), "invalid UTF-8");
  ChoiceDataset d;
  EXPECT_EQ(LoadChoiceDataset("choice", "/nonexistent.jsonl", &d).code(), Status::Code::kNotFound);
}

TEST(ChoiceDataset, ArgMinTiesGoToTheLowestIndexAndNanIsWorst) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(ArgMin({3, 1, 2}), 1);
  EXPECT_EQ(ArgMin({2, 1, 1}), 1);
  EXPECT_EQ(ArgMin({nan, 5, nan, 4}), 3);
  EXPECT_EQ(ArgMin({nan, nan}), 0);
  EXPECT_EQ(ArgMin({}), -1);
  EXPECT_EQ(CodePoints("abc"), 3u);
  EXPECT_EQ(CodePoints("h\xc3\xa9!"), 3u);  // é is one character
  EXPECT_TRUE(IsChoiceTask("choice") && IsChoiceTask("arc") && IsChoiceTask("hellaswag"));
  EXPECT_FALSE(IsChoiceTask("gsm8k"));
}

// The committed datasets load as their tasks and are what the script says.
TEST(ChoiceDataset, TheCommittedDatasetsLoad) {
  const std::string dir = testing::SourceDir() + "/data/choice/";
  for (const auto& [file, task, rows] :
       {std::tuple<const char*, const char*, size_t>{"arith3.jsonl", "choice", 300},
        {"facts3.jsonl", "choice", 60},
        {"stories.jsonl", "hellaswag", 200}}) {
    ChoiceDataset d;
    const Status s = LoadChoiceDataset(task, dir + file, &d);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(d.examples.size(), rows) << file;
    for (const ChoiceExample& ex : d.examples) EXPECT_EQ(ex.choices.size(), 4u) << ex.where;
  }
}

}  // namespace
}  // namespace coolfusion::eval
