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

// The ggml devices of every endpoint, each checked first. Connections opened here get a
// deadline of `timeout_s` seconds on every send and receive (0: none): a worker that
// stops answering (a frozen host) then fails instead of blocking forever.
Status RpcDevices(const std::vector<std::string>& endpoints, double timeout_s,
                  std::vector<ggml_backend_device*>* out);

// The first of `endpoints` whose connection broke since it was opened (the worker died,
// answered garbage or sent nothing within the deadline), or "" if none.
std::string FailedRpcEndpoint(const std::vector<std::string>& endpoints);

}  // namespace coolfusion
