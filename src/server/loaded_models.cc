#include "server/loaded_models.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace coolfusion::server {

Status LoadModels(const std::vector<ModelOptions>& models, const ServerOptions& opts,
                  LoadedModels* out) {
  // One context per model for every slot, the slots' decodes batched together.
  std::vector<std::unique_ptr<Ensemble>> slots;
  CF_RETURN_IF_ERROR(Ensemble::OpenLanes(models, std::max(opts.parallel, 1), &slots));
  const Ensemble& first = *slots[0];
  // What was asked and cannot be done here (-ngl without a GPU), once for all slots.
  for (const std::string& w : first.LoadWarnings())
    std::fprintf(stderr, "warning: %s\n", w.c_str());
  out->ids = {opts.alias.empty() ? std::string(kEnsembleModelId) : opts.alias};
  for (size_t i = 0; i < first.size(); ++i) {
    const ModelInfo& info = first.info(i);
    std::string id = std::filesystem::path(info.path).stem().string();
    for (const auto& prev : out->ids) {
      if (prev == id) id.append(1, '#').append(std::to_string(i));
    }
    out->ids.push_back(id);
    out->files.push_back(info.name);
    SourceModel m;
    m.id = id;
    m.path = info.path;
    m.tokenizer = info.tokenizer;
    m.n_vocab = info.n_vocab;
    m.n_ctx = info.n_ctx;
    m.has_chat_template = info.has_chat_template;
    m.chat_template = i < models.size() ? models[i].chat_template : "";
    m.weight = i < models.size() ? models[i].weight : 1;
    out->sources.push_back(m);
    out->n_vocab.push_back(info.n_vocab);
    out->pieces.emplace_back();
    CF_RETURN_IF_ERROR(first.VocabPieces(i, &out->pieces.back()));
    const std::vector<std::string>& pieces = out->pieces.back();
    auto piece = [&pieces](int32_t t) {
      return t >= 0 && (size_t)t < pieces.size() ? pieces[t] : std::string();
    };
    out->sources.back().bos_token = piece(info.bos);
    out->sources.back().eos_token = piece(info.eos);
    size_t longest = 1;
    for (const std::string& p : out->pieces.back()) longest = std::max(longest, p.size());
    out->max_piece_bytes.push_back(longest);
  }
  ApiError unused;
  if (!ParseRequest("{\"prompt\": \"\"}", false, opts.limits, out->ids, &out->defaults, &unused))
    return Status::Internal("the default request does not parse: " + unused.message);
  out->pool = std::make_unique<SlotPool>(std::move(slots), opts.max_queue);
  return Status::Ok();
}

}  // namespace coolfusion::server
