// OpenAI's chat `messages` as the engine's ChatMessages (one text per message, which each
// model's chat template renders): text content parts joined, "developer" read as
// "system", an assistant's earlier `tool_calls` and the `tool` results that answer them
// written in the ensemble's tool-call envelope (chat/tool_calls.h), and the tools'
// instructions added to the system message when the request has tools. Every malformed
// message is a 400 naming it ("messages[3].tool_call_id"). No HTTP, no threads; nothing
// here throws on any body.
#pragma once

#include <coolfusion/options.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "chat/tool_calls.h"
#include "server/json_fields.h"

namespace coolfusion::server {

// REQUIRES: messages is an array. *out holds the messages as the models read them.
bool ParseChatMessages(const nlohmann::json& messages, const chat::ToolSet& tools,
                       std::vector<ChatMessage>* out, ApiError* err);

}  // namespace coolfusion::server
