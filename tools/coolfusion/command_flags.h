// Which command reads which flag. ParseArgs takes every flag for every command; a flag
// that the command would not read (eval's --data given to generate, a serve flag given to
// chat, a generation flag given to boundaries) is refused here in one line rather than
// silently ignored, as is a list (--method a,b; --score a,b) where one value is taken.
#pragma once

#include <string>

#include "args.h"

namespace coolfusion::cli {

// Ok when `cmd` reads every flag in a.given; else the first that it does not, named with
// the commands that take it. An unknown command is left to the caller.
Status CheckFlagsFor(const std::string& cmd, const CommonArgs& a);

}  // namespace coolfusion::cli
