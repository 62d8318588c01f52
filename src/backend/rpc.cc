#include "backend/rpc.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <ggml-backend.h>
#include <ggml-rpc.h>

namespace coolfusion {

namespace {

bool SplitEndpoint(const std::string& ep, std::string* host, std::string* port) {
  const size_t colon = ep.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == ep.size()) return false;
  *host = ep.substr(0, colon);
  *port = ep.substr(colon + 1);
  for (char c : *port)
    if (c < '0' || c > '9') return false;
  const long p = std::strtol(port->c_str(), nullptr, 10);
  return p > 0 && p < 65536;
}

}  // namespace

Status CheckRpcEndpoint(const std::string& endpoint, int timeout_ms) {
  std::string host, port;
  if (!SplitEndpoint(endpoint, &host, &port))
    return Status::InvalidArgument("RPC worker '" + endpoint + "' is not HOST:PORT");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Status::NotFound("RPC worker " + endpoint + " is unreachable: " + gai_strerror(rc));
  std::string why = "no address";
  bool ok = false;
  for (addrinfo* a = res; a && !ok; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, timeout_ms);
      if (rc == 0) {
        why = "no answer within " + std::to_string(timeout_ms) + " ms";
        rc = -1;
      } else if (rc > 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err == 0 ? 0 : -1;
        if (err) why = std::strerror(err);
      } else {
        why = std::strerror(errno);
      }
    } else if (rc != 0) {
      why = std::strerror(errno);
    }
    ok = rc == 0;
    close(fd);
  }
  freeaddrinfo(res);
  if (!ok) return Status::NotFound("RPC worker " + endpoint + " is unreachable: " + why);
  return Status::Ok();
}

Status RpcDevices(const std::vector<std::string>& endpoints, double timeout_s,
                  std::vector<ggml_backend_device*>* out) {
  ggml_backend_rpc_set_timeout_ms(timeout_s > 0 ? (int)std::min(timeout_s * 1000, 2e9) : 0);
  for (const auto& ep : endpoints) {
    CF_RETURN_IF_ERROR(CheckRpcEndpoint(ep, 3000));
    ggml_backend_reg_t reg = ggml_backend_rpc_add_server(ep.c_str());
    if (ggml_backend_rpc_endpoint_failed(ep.c_str()))
      return Status::Unavailable("RPC worker " + ep + " accepts connections but does not answer");
    if (!reg || ggml_backend_reg_dev_count(reg) == 0)
      return Status::Unsupported("RPC worker " + ep + " offers no device");
    for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i)
      out->push_back(ggml_backend_reg_dev_get(reg, i));
  }
  return Status::Ok();
}

std::string FailedRpcEndpoint(const std::vector<std::string>& endpoints) {
  for (const auto& ep : endpoints)
    if (ggml_backend_rpc_endpoint_failed(ep.c_str())) return ep;
  return "";
}

}  // namespace coolfusion
