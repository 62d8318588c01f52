// coolfusion-make-model's --chat-template-file: the test models with real models' chat
// templates (tests/CMakeLists.txt, COOLFUSION_TEMPLATE_MODELS) hold each template file's
// bytes unchanged as tokenizer.chat_template, and a file that cannot be read is a one-line
// error with a non-zero exit and no model written.
#include <gguf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "support/cli_process.h"
#include "support/paths.h"

namespace coolfusion {
namespace {

using testing::CliRun;
using testing::Slurp;

// tokenizer.chat_template of a GGUF; `found` false when the file or the key is missing.
std::string StoredTemplate(const std::string& path, bool* found) {
  *found = false;
  gguf_init_params p{/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* g = gguf_init_from_file(path.c_str(), p);
  if (!g) return "";
  std::string t;
  const int64_t k = gguf_find_key(g, "tokenizer.chat_template");
  if (k >= 0 && gguf_get_kv_type(g, k) == GGUF_TYPE_STRING) {
    t = gguf_get_val_str(g, k);
    *found = true;
  }
  gguf_free(g);
  return t;
}

std::string Template(const std::string& name) {
  return std::string(COOLFUSION_TEMPLATE_DIR) + "/" + name + ".jinja";
}

std::string Dir() { return testing::OwnTempDir("mm"); }

// coolfusion-make-model ARGS..., its output in Dir()/NAME.out and .err.
CliRun MakeModel(const std::vector<std::string>& args, const std::string& name) {
  return testing::RunProgram(testing::MakeModelPath(), args, Dir() + "/" + name + ".out",
                             Dir() + "/" + name + ".err");
}

// The smallest model the tool makes, over a real vocabulary, with `extra` flags.
std::vector<std::string> SmallModelArgs(const std::string& out,
                                        const std::vector<std::string>& extra) {
  std::vector<std::string> a = {
      "--vocab", testing::Vocab("qwen2"), "--out", out, "--dim", "8", "--layers", "1", "--heads",
      "2"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

struct TemplateModel {
  const char* model;      // in the tiny model folder, without .gguf
  const char* template_;  // in llama.cpp's models/templates/, without .jinja
};

const TemplateModel kTemplateModels[] = {
    {"rand-qwen25-tools", "Qwen-Qwen2.5-7B-Instruct"},
    {"rand-llama31-tools", "meta-llama-Llama-3.1-8B-Instruct"},
    {"rand-mistral-tools", "mistralai-Mistral-Nemo-Instruct-2407"},
    {"rand-qwen3-think", "Qwen-Qwen3-0.6B"},
    {"rand-r1-think", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B"},
};

TEST(MakeModelTemplate, TestModelsHoldTheirTemplateFilesByteForByte) {
  for (const TemplateModel& m : kTemplateModels) {
    SCOPED_TRACE(m.model);
    const std::string want = Slurp(Template(m.template_));
    ASSERT_FALSE(want.empty()) << "cannot read " << Template(m.template_);
    bool found = false;
    const std::string got =
        StoredTemplate(testing::TinyModelDir() + "/" + m.model + ".gguf", &found);
    ASSERT_TRUE(found) << m.model << ".gguf is missing or has no tokenizer.chat_template";
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "the stored template differs from " << m.template_ << ".jinja";
  }
}

TEST(MakeModelTemplate, StoresAnyFileUnchanged) {
  // No trailing newline, CRLF, UTF-8, Jinja and the word chatml (not the built-in template).
  const std::string text = "chatml\r\n{{ messages[0]['content'] }} \xc3\xa9\xe2\x9c\x93\t";
  const std::string file = Dir() + "/odd.jinja", out = Dir() + "/odd.gguf";
  std::ofstream(file, std::ios::binary) << text;
  const CliRun r = MakeModel(SmallModelArgs(out, {"--chat-template-file", file}), "odd");
  ASSERT_EQ(r.code, 0) << r.err;
  bool found = false;
  EXPECT_EQ(StoredTemplate(out, &found), text);
  EXPECT_TRUE(found);
}

// One line on stderr that says `what`, exit status 1 and no model.
void ExpectFails(const CliRun& r, const std::string& out, const std::string& what) {
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  EXPECT_EQ(testing::Lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(access(out.c_str(), F_OK), 0) << out << " was written";
}

TEST(MakeModelTemplate, MissingTemplateFileIsAnError) {
  const std::string missing = Dir() + "/no-such.jinja", out = Dir() + "/missing.gguf";
  const CliRun r = MakeModel(SmallModelArgs(out, {"--chat-template-file", missing}), "missing");
  ExpectFails(r, out, "error: cannot read --chat-template-file " + missing);
}

TEST(MakeModelTemplate, UnreadableOrEmptyTemplateFileIsAnError) {
  const std::string empty = Dir() + "/empty.jinja", out = Dir() + "/empty.gguf";
  std::ofstream(empty, std::ios::binary).flush();
  ExpectFails(MakeModel(SmallModelArgs(out, {"--chat-template-file", empty}), "empty"), out,
              "error: --chat-template-file " + empty + " is empty");
  // A folder opens but cannot be read.
  ExpectFails(MakeModel(SmallModelArgs(out, {"--chat-template-file", Dir()}), "folder"), out,
              "error: cannot read --chat-template-file " + Dir());
  // Both flags: which template was meant is unclear.
  ExpectFails(MakeModel(SmallModelArgs(out, {"--chat-template", "chatml", "--chat-template-file",
                                             Template("Qwen-Qwen3-0.6B")}),
                        "both"),
              out, "error: give --chat-template or --chat-template-file, not both");
}

TEST(MakeModelTemplate, HelpNamesTheFlag) {
  const CliRun r = MakeModel({"--help"}, "help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--chat-template-file FILE"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace coolfusion
