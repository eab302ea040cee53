// UnixSocket: see UnixSocket.h.
#include "hypervisor/UnixSocket.h"

#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hypervisor {

sockaddr_un unixSocketAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty()) throw std::invalid_argument("the control socket path is empty");
  // The path must fit with its terminating NUL.
  if (path.size() >= sizeof address.sun_path) {
    throw std::invalid_argument("control socket path " + path + " is too long (at most " +
                                std::to_string(sizeof address.sun_path - 1) + " bytes)");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

int connectUnixSocket(const std::string& path, int socketFlags, int64_t sendTimeoutMicros) {
  sockaddr_un address = unixSocketAddress(path);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | socketFlags, 0);
  if (fd < 0) return -1;
  if (sendTimeoutMicros > 0) {
    timeval timeout{time_t(sendTimeoutMicros / 1000000), suseconds_t(sendTimeoutMicros % 1000000)};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  int result;
  do {
    result = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  } while (result < 0 && errno == EINTR);
  if (result < 0) {
    int error = errno;
    ::close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

ssize_t sendSome(int fd, std::string_view bytes) {
  for (;;) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
}

}  // namespace hypervisor
