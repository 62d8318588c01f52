// The table of methods (fusion/methods/registry.h): every method is found by its name and
// made from its row, and what a method cannot honour is read from its row, once, by the
// engine and the server alike.
#include "fusion/methods/registry.h"

#include <coolfusion/engine.h>

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "fusion/method.h"

namespace coolfusion {
namespace {

// The names in a list "a, b, c" or "a, b or c".
std::set<std::string> Split(std::string list) {
  for (size_t at; (at = list.find(" or ")) != std::string::npos;) list.replace(at, 4, ", ");
  std::set<std::string> out;
  size_t from = 0;
  while (true) {
    const size_t comma = list.find(", ", from);
    out.insert(list.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
    if (comma == std::string::npos) break;
    from = comma + 2;
  }
  return out;
}

std::vector<std::string> Names() {
  std::vector<std::string> out;
  for (const std::string& n : Split(MethodList())) out.push_back(n);
  return out;
}

TEST(MethodTable, EveryRowIsFoundByItsNameAndMakesItsMethod) {
  const std::vector<std::string> names = Names();
  ASSERT_GE(names.size(), 9u);
  int one_model = 0;
  for (const std::string& n : names) {
    SCOPED_TRACE(n);
    const MethodSpec* m = FindMethod(n);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(std::string(m->name), n);
    EXPECT_TRUE(IsMethod(n));
    EXPECT_TRUE(m->make() != nullptr);
    one_model += m->one_model;
  }
  EXPECT_EQ(one_model, 1);
  EXPECT_TRUE(IsSingleModelMethod(SingleModelMethod()));
  EXPECT_EQ(FindMethod(""), &DefaultMethodSpec());
  EXPECT_STREQ(MethodName(""), DefaultMethod());
  EXPECT_FALSE(DefaultMethodSpec().one_model);
  EXPECT_EQ(FindMethod("Cool"), nullptr);
  EXPECT_FALSE(IsMethod(""));
}

TEST(MethodTable, WhatAMethodCannotHonourComesFromItsRow) {
  for (const std::string& n : Names()) {
    SCOPED_TRACE(n);
    const MethodSpec& m = *FindMethod(n);
    GenerateOptions o;
    o.method = n;
    EXPECT_EQ(FirstUnhonoured(m, o), Unhonoured::kNone);
    EXPECT_TRUE(CheckMethodOptions(m, o).ok());
    GenerateOptions g = o;
    g.grammar = "root ::= \"a\"";
    EXPECT_EQ(FirstUnhonoured(m, g), m.no_grammar ? Unhonoured::kGrammar : Unhonoured::kNone);
    EXPECT_EQ(Split(MethodsFollowingGrammar()).count(n) == 1,
              m.no_grammar == nullptr && !m.one_model);
    GenerateOptions t = o;
    t.sampling.temperature = 0.5f;
    EXPECT_EQ(FirstUnhonoured(m, t), m.greedy_only ? Unhonoured::kTemperature : Unhonoured::kNone);
    GenerateOptions f = o;
    f.sampling.frequency_penalty = 0.5f;
    EXPECT_EQ(FirstUnhonoured(m, f),
              m.greedy_only ? Unhonoured::kFrequencyPenalty : Unhonoured::kNone);
    GenerateOptions p = o;
    p.sampling.presence_penalty = 0.5f;
    EXPECT_EQ(FirstUnhonoured(m, p),
              m.greedy_only ? Unhonoured::kPresencePenalty : Unhonoured::kNone);
    GenerateOptions r = o;
    r.sampling.repeat_penalty = 1.1f;
    EXPECT_EQ(FirstUnhonoured(m, r),
              m.greedy_only ? Unhonoured::kRepeatPenalty : Unhonoured::kNone);
    Status st = CheckMethodOptions(m, t);
    EXPECT_EQ(st.ok(), m.greedy_only == nullptr);
    if (!st.ok()) {
      EXPECT_NE(st.message().find("--temp"), std::string::npos) << st.message();
    }
    // A request for one model alone is that model's plain generation: nothing refused.
    r.only_model = 0;
    g.only_model = 0;
    EXPECT_EQ(FirstUnhonoured(m, r), Unhonoured::kNone);
    EXPECT_EQ(FirstUnhonoured(m, g), Unhonoured::kNone);
  }
  // The rows as they are today: the token-level methods are greedy; adafuse refuses grammars.
  EXPECT_NE(FindMethod("unite")->greedy_only, nullptr);
  EXPECT_NE(FindMethod("gac")->greedy_only, nullptr);
  EXPECT_NE(FindMethod("adafuse")->no_grammar, nullptr);
  EXPECT_TRUE(FindMethod("safe")->vocab_union);
  GenerateOptions a;
  a.grammar = "root ::= \"a\"";
  const Status st = CheckMethodOptions(*FindMethod("adafuse"), a);
  EXPECT_NE(st.message().find("adafuse cannot follow a grammar"), std::string::npos);
  EXPECT_NE(st.message().find(MethodsFollowingGrammar()), std::string::npos);
  EXPECT_EQ(MethodsFollowingGrammar().find("adafuse"), std::string::npos);
}

}  // namespace
}  // namespace coolfusion
