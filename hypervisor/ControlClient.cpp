// ControlClient: see ControlClient.h.
#include "hypervisor/ControlClient.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "hypervisor/UnixSocket.h"

namespace hypervisor {

namespace {

int64_t nowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ControlReply failed(std::string error) {
  ControlReply r;
  r.kind = ControlReply::Kind::Failed;
  r.error = std::move(error);
  return r;
}

// Waits until `fd` is ready for `events` or `deadline` (steady clock, ms) passes.
bool waitFor(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - nowMillis();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, int(std::min<int64_t>(left, 1 << 30)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

struct Descriptor {
  int fd;
  ~Descriptor() { ::close(fd); }
};

}  // namespace

ControlReply askVm(const std::string& socketPath, const nlohmann::json& request, std::chrono::milliseconds timeout) {
  int64_t deadline = nowMillis() + timeout.count();
  int fd;
  try {
    fd = connectUnixSocket(socketPath, 0, std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
  } catch (const std::invalid_argument& e) {
    return failed(e.what());
  }
  if (fd < 0) {
    int error = errno;
    std::string why = "control socket " + socketPath + ": " + std::strerror(error);
    if (error == ENOENT || error == ECONNREFUSED || error == ENOTSOCK || error == ENOTDIR) {
      ControlReply r;
      r.kind = ControlReply::Kind::NoVm;
      r.error = "no VM answers at " + why;
      return r;
    }
    return failed("cannot connect to " + why);
  }
  Descriptor connection{fd};

  // The request, whole. A server that refuses this peer closes after its error line:
  // a failed send is not the end, the answer may be waiting.
  std::string line = request.dump() + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!waitFor(fd, POLLOUT, deadline)) return failed("the VM did not take the request within the time allowed");
    } else {
      break;
    }
  }

  std::string input;
  size_t newline;
  while ((newline = input.find('\n')) == std::string::npos) {
    if (input.size() > kMaxControlAnswerBytes) return failed("the VM's answer is too long");
    if (!waitFor(fd, POLLIN, deadline)) {
      return failed("no answer from the VM within " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) + " s");
    }
    char buffer[65536];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      input.append(buffer, size_t(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
      return failed(sent < line.size() ? "the VM closed the connection before taking the whole request"
                                       : "the VM closed the connection before answering");
    }
  }
  nlohmann::json answer;
  try {
    answer = nlohmann::json::parse(std::string_view(input).substr(0, newline));
  } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number out of range
    return failed(std::string("the VM's answer is not JSON: ") + e.what());
  }
  if (!answer.is_object() || !answer.contains("ok") || !answer["ok"].is_boolean()) {
    return failed("the VM's answer is not a control answer: " + answer.dump().substr(0, 200));
  }
  if (!answer["ok"].get<bool>()) {
    const nlohmann::json& error = answer.value("error", nlohmann::json());
    return failed(error.is_string() ? error.get<std::string>() : "the VM answered an error without a message");
  }
  ControlReply r;
  r.kind = ControlReply::Kind::Answered;
  r.answer = std::move(answer);
  return r;
}

}  // namespace hypervisor
