// Placement of a model's layers on llama.cpp `rpc-server` workers (ggml's RPC backend).
#pragma once

#include <coolfusion/status.h>

#include <string>
#include <vector>

struct ggml_backend_device;

namespace coolfusion {

// Checks that `endpoint` ("host:port") accepts a TCP connection within `timeout_ms`.
// The error names the endpoint and the reason ("connection refused", "timed out").
Status CheckRpcEndpoint(const std::string& endpoint, int timeout_ms);

// The ggml devices of every endpoint, each checked first (ggml's RPC client aborts the
// process on a worker it cannot reach; this turns that into an error).
Status RpcDevices(const std::vector<std::string>& endpoints, std::vector<ggml_backend_device*>* out);

// The first of `endpoints` whose connection broke since it was opened, or "" if none.
std::string FailedRpcEndpoint(const std::vector<std::string>& endpoints);

}  // namespace coolfusion
