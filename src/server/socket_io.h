// The socket calls the connection gate makes, each one step that never blocks: listening,
// naming an address, sending what a socket takes now. No state and no threads here.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <coolfusion/status.h>

#include <cstddef>
#include <string>

namespace coolfusion::server {

// Binds a non-blocking listening socket to `host` (empty: every address) and `port` (0: any
// free port), trying each address the name resolves to. On success *fd is the socket and
// *bound_port its port. Unsupported, naming "host:port": the address is in use or not this
// machine's.
Status ListenTcp(const std::string& host, int port, int* fd, int* bound_port);

// The numeric address of `ss` ("127.0.0.1", "::1"; "" for another family) and its port.
std::string AddressOf(const sockaddr_storage& ss, int* port);

// Sends what the socket takes now, without waiting: the bytes sent (possibly fewer than
// `size`, possibly 0), or -1 when the client is gone.
ssize_t SendNow(int fd, const char* data, size_t size);

}  // namespace coolfusion::server
