#include "commands.h"

namespace coolfusion::cli {
int CmdBench(const CommonArgs&) { return Fail(Status::Unsupported("bench: not yet")); }
}  // namespace coolfusion::cli
