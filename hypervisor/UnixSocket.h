// UnixSocket: the few Unix-domain stream socket operations the control socket's server
// and client share — an address from a path (sun_path is short: a longer path is refused
// by name rather than truncated), connecting, and sending without SIGPIPE.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hypervisor {

// The address of the socket at `path`; throws std::invalid_argument when the path is
// empty or does not fit in sun_path.
sockaddr_un unixSocketAddress(const std::string& path);

// A connected close-on-exec stream socket to `path`, or -1 with errno set (ENOENT: no
// such file, ECONNREFUSED: not a socket or nobody listens). `socketFlags` may add
// SOCK_NONBLOCK: the connect then fails with EAGAIN instead of waiting while the
// listener's backlog is full. Without it the wait is bounded by the socket's SO_SNDTIMEO
// (`sendTimeoutMicros`, 0: none), which Unix-domain connect honours.
int connectUnixSocket(const std::string& path, int socketFlags = 0, int64_t sendTimeoutMicros = 0);

// Sends what it can of `bytes` without blocking and without SIGPIPE; answers the number
// of bytes sent (0 when the peer's buffer is full), or -1 with errno set when the
// connection is broken. EINTR is retried.
ssize_t sendSome(int fd, std::string_view bytes);

}  // namespace hypervisor
