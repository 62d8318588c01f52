#include "server/socket_io.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coolfusion::server {

Status ListenTcp(const std::string& host, int port, int* fd, int* bound_port) {
  *fd = -1;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int gai =
      ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  const std::string where = host + ":" + std::to_string(port);
  if (gai != 0)
    return Status::Unsupported("cannot listen on " + where + ": " + ::gai_strerror(gai));
  std::string why = "no address";
  for (addrinfo* ai = res; ai != nullptr && *fd < 0; ai = ai->ai_next) {
    const int s =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) continue;
    // SO_REUSEADDR only (not SO_REUSEPORT): a second server on a port in use fails.
    const int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(s, 1024) == 0) {
      *fd = s;
    } else {
      why = errno == EADDRINUSE ? "the port is in use" : std::strerror(errno);
      ::close(s);
    }
  }
  ::freeaddrinfo(res);
  if (*fd < 0) return Status::Unsupported("cannot listen on " + where + ": " + why);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &len);
  AddressOf(ss, bound_port);
  return Status::Ok();
}

std::string AddressOf(const sockaddr_storage& ss, int* port) {
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    *port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    *port = ntohs(a->sin6_port);
  } else {
    *port = 0;
  }
  return host;
}

ssize_t SendNow(int fd, const char* data, size_t size) {
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return -1;
    }
  }
  return (ssize_t)sent;
}

}  // namespace coolfusion::server
