// What `coolfusion serve` knows once its models are loaded: the slots (one ensemble each)
// and how the models are named and described to clients. Loaded once, on the loader thread
// of RunServer, then only read.
#pragma once

#include <coolfusion/engine.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/http_server.h"
#include "server/llama_compat.h"
#include "server/request.h"
#include "server/slot_pool.h"

namespace coolfusion::server {

struct LoadedModels {
  std::unique_ptr<SlotPool> pool;
  std::vector<std::string> ids;    // ids[0]: the ensemble; ids[1 + i]: source model i
  std::vector<std::string> files;  // per source model: its file name (no directory)
  std::vector<SourceModel> sources;
  std::vector<std::vector<std::string>> pieces;  // per source model: its vocabulary's text
  std::vector<int32_t> n_vocab;
  std::vector<size_t> max_piece_bytes;  // per source model: its longest token's text
  ApiRequest defaults;                  // a request that sets nothing (/props, /slots)
};

// Opens one ensemble per slot (opts.parallel; Ensemble::OpenLanes: one context per model) and
// describes the models; fills *out. What was asked and cannot be done here (-ngl without a GPU) is
// a warning on stderr, once for all slots. An error: a model that does not open.
Status LoadModels(const std::vector<ModelOptions>& models, const ServerOptions& opts,
                  LoadedModels* out);

}  // namespace coolfusion::server
