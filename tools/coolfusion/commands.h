// The subcommands of the `coolfusion` CLI. Each returns a process exit code.
#pragma once

#include "args.h"

namespace coolfusion::cli {

int CmdGenerate(const CommonArgs& a);
int CmdChat(const CommonArgs& a);
int CmdBoundaries(const CommonArgs& a);
int CmdBench(const CommonArgs& a);
int CmdServe(const CommonArgs& a);
int CmdEval(const CommonArgs& a);
// eval on a multiple-choice task (eval/choice.h); CmdEval calls it for those tasks.
int CmdEvalChoice(const CommonArgs& a);

// Prints "error: <message>" on stderr and returns 1.
int Fail(const Status& s);
// Loads the models with a progress line per model on stderr.
Status OpenEnsemble(const std::vector<ModelOptions>& models, bool quiet,
                    std::unique_ptr<Ensemble>* out);
// The same, `lanes` ensembles over one load of the models (Ensemble::OpenLanes: eval
// --parallel's rows run side by side, their decodes batched).
Status OpenLanes(const std::vector<ModelOptions>& models, bool quiet, int lanes,
                 std::vector<std::unique_ptr<Ensemble>>* out);

}  // namespace coolfusion::cli
