// ControlServer: see ControlServer.h.
#include "hypervisor/ControlServer.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "chester/JsonErrorText.h"
#include "hypervisor/UnixSocket.h"

namespace hypervisor {

namespace {

constexpr size_t kReadChunkBytes = size_t(256) << 10;
// Bytes read from one connection per poll(), so that one client streaming a huge request
// cannot hold the host loop (and the guest) for long.
constexpr size_t kReadBudgetBytes = size_t(4) << 20;
constexpr int kListenBacklog = 64;
constexpr int kAcceptsPerPoll = 64;
constexpr int64_t kAcceptPauseMicros = 100'000;

int64_t nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

nlohmann::json errorAnswer(const std::string& message) {
  return {{"ok", false}, {"error", message}};
}

// One answer line. Strings that are not UTF-8 (a handler's text taken from bytes) are
// repaired rather than making the dump throw.
std::string answerLine(const nlohmann::json& answer) {
  return answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string systemError(const std::string& what, int error) {
  return what + ": " + std::strerror(error);
}

// Thrown by the parser callback when a request nests deeper than the limit.
struct TooDeep {};

}  // namespace

struct ControlServer::Connection {
  int fd = -1;
  // The partial request line: complete lines are handled as soon as they arrive, so this
  // never holds a newline and never more than Limits::maxLineBytes bytes.
  std::string input;
  int64_t lastInputMicros = 0;  // when bytes last arrived (the partial line's timeout)
  // Unsent answers: output[outputSent..].
  std::string output;
  size_t outputSent = 0;
  bool inputEnded = false;  // the peer shut down its side: close once the output is sent
  bool closed = false;

  size_t unsentBytes() const { return output.size() - outputSent; }
};

ControlServer::ControlServer(std::string path, uid_t allowedUid, Limits limits)
    : path_(std::move(path)), allowedUid_(allowedUid), limits_(limits) {
  listenAt();
}

ControlServer::~ControlServer() {
  for (auto& c : connections_) close(*c);
  if (listenFd_ >= 0) ::close(listenFd_);
  // Another VM may have taken the path over if ours was removed by hand: unlink only ours.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == socketDevice_ && st.st_ino == socketInode_) {
    ::unlink(path_.c_str());
  }
}

void ControlServer::listenAt() {
  sockaddr_un address;
  try {
    address = unixSocketAddress(path_);
  } catch (const std::invalid_argument& e) {
    throw ControlSocketError(e.what());
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw ControlSocketError("control socket " + path_ + ": exists and is not a socket");
    // A socket file: stale only if nobody listens on it (the VM that made it is gone).
    int probe = connectUnixSocket(path_, SOCK_NONBLOCK);
    int error = errno;
    if (probe >= 0 || error == EAGAIN) {
      if (probe >= 0) ::close(probe);
      throw ControlSocketError("control socket " + path_ + ": another process is listening there (a VM running?)");
    }
    if (error != ECONNREFUSED) throw ControlSocketError(systemError("control socket " + path_, error));
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      throw ControlSocketError(systemError("control socket " + path_ + ": cannot remove the stale socket", errno));
    }
  }
  listenFd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listenFd_ < 0) throw ControlSocketError(systemError("control socket " + path_ + ": socket", errno));
  // The file is created 0600 from the start (no window in which others could connect);
  // the chmod makes sure whatever the file system did with the umask.
  mode_t previous = ::umask(077);
  int bound = ::bind(listenFd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  int bindError = errno;
  ::umask(previous);
  auto fail = [&](const std::string& what, int error, bool unlinkFile) {
    ::close(listenFd_);
    listenFd_ = -1;
    if (unlinkFile) ::unlink(path_.c_str());
    throw ControlSocketError(systemError("control socket " + path_ + ": " + what, error));
  };
  if (bound != 0) fail("bind", bindError, false);
  if (::lstat(path_.c_str(), &st) != 0) fail("stat", errno, true);
  socketDevice_ = st.st_dev;
  socketInode_ = st.st_ino;
  if (::chmod(path_.c_str(), 0600) != 0) fail("chmod", errno, true);
  if (::listen(listenFd_, kListenBacklog) != 0) fail("listen", errno, true);
}

void ControlServer::on(std::string command, Handler handler) {
  handlers_[std::move(command)] = std::move(handler);
}

std::vector<pollfd> ControlServer::pollDescriptors() const {
  std::vector<pollfd> fds;
  fds.reserve(connections_.size() + 1);
  if (acceptPausedUntil_ <= nowMicros()) fds.push_back({listenFd_, POLLIN, 0});
  for (const auto& c : connections_) {
    if (c->closed) continue;
    short events = c->inputEnded ? 0 : POLLIN;
    if (c->unsentBytes() > 0) events |= POLLOUT;
    fds.push_back({c->fd, events, 0});
  }
  return fds;
}

int64_t ControlServer::nextDeadlineMicros() const {
  int64_t deadline = INT64_MAX;
  if (acceptPausedUntil_ > nowMicros()) deadline = acceptPausedUntil_;
  for (const auto& c : connections_) {
    if (!c->closed && !c->input.empty()) {
      deadline = std::min(deadline, c->lastInputMicros + limits_.partialLineTimeoutMicros);
    }
  }
  return deadline;
}

void ControlServer::poll() {
  std::vector<pollfd> fds = pollDescriptors();
  // The connections in the order of fds (after the listening socket, when it is there).
  std::vector<Connection*> watched;
  for (const auto& c : connections_) {
    if (!c->closed) watched.push_back(c.get());
  }
  size_t first = fds.size() - watched.size();
  if (::poll(fds.data(), fds.size(), 0) > 0) {
    // Accept first: a descriptor closed while serving may be reused by the next accept.
    if (first == 1 && fds[0].revents != 0) acceptAll();
    for (size_t i = first; i < fds.size(); i++) {
      if (fds[i].revents != 0 && !watched[i - first]->closed) serve(*watched[i - first], fds[i].revents);
    }
  }
  closeExpiredPartialLines();
  std::erase_if(connections_, [](const std::unique_ptr<Connection>& c) { return c->closed; });
}

void ControlServer::acceptAll() {
  for (int i = 0; i < kAcceptsPerPoll; i++) {
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        acceptPausedUntil_ = nowMicros() + kAcceptPauseMicros;
      }
      return;  // EAGAIN: nobody else waits
    }
    ucred peer{};
    socklen_t length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
      refuse(fd, systemError("cannot check the peer's credentials", errno));
    } else if (peer.uid != allowedUid_) {
      refuse(fd, "permission denied: uid " + std::to_string(peer.uid) + " may not use this control socket (only uid " +
                     std::to_string(allowedUid_) + ")");
    } else if (size_t(std::count_if(connections_.begin(), connections_.end(),
                                    [](const auto& c) { return !c->closed; })) >= limits_.maxConnections) {
      refuse(fd, "too many control connections (at most " + std::to_string(limits_.maxConnections) + ")");
    } else {
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      connections_.push_back(std::move(c));
    }
  }
}

void ControlServer::serve(Connection& c, short revents) {
  if (revents & POLLNVAL) {
    close(c);
    return;
  }
  if (!c.inputEnded && (revents & (POLLIN | POLLHUP | POLLERR))) readFrom(c);
  if (!c.closed && c.unsentBytes() > 0 && (revents & (POLLOUT | POLLHUP | POLLERR))) flush(c);
  closeIfDone(c);
}

void ControlServer::closeIfDone(Connection& c) {
  if (!c.closed && c.inputEnded && c.unsentBytes() == 0) close(c);
}

void ControlServer::readFrom(Connection& c) {
  size_t budget = kReadBudgetBytes;
  while (!c.closed && !c.inputEnded && budget > 0) {
    // Never more than one byte past the longest line: that byte tells it is too long.
    size_t room = limits_.maxLineBytes + 1 - c.input.size();
    size_t want = std::min({kReadChunkBytes, room, budget});
    size_t old = c.input.size();
    c.input.resize(old + want);
    ssize_t n = ::recv(c.fd, c.input.data() + old, want, 0);
    c.input.resize(old + size_t(std::max<ssize_t>(n, 0)));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close(c);  // reset by the peer, or another error: nobody to answer
      return;
    }
    if (n == 0) {
      c.inputEnded = true;
      if (!c.input.empty()) {
        c.input.clear();
        queue(c, errorAnswer("the connection ended in the middle of a request (no newline)"));
        flush(c);
      }
      return;
    }
    budget -= size_t(n);
    c.lastInputMicros = nowMicros();
    handleCompleteLines(c, old);
    if (!c.closed && c.input.size() > limits_.maxLineBytes) {
      closeWithError(c, "request line longer than " + std::to_string(limits_.maxLineBytes) + " bytes");
    }
  }
}

// Handles every complete line in the input (the bytes before `scanFrom` hold no newline)
// and keeps the partial line that follows them.
void ControlServer::handleCompleteLines(Connection& c, size_t scanFrom) {
  size_t start = 0;
  for (size_t nl = c.input.find('\n', scanFrom); nl != std::string::npos && !c.closed; nl = c.input.find('\n', start)) {
    queue(c, answer(std::string_view(c.input).substr(start, nl - start)));
    start = nl + 1;
  }
  if (c.closed) return;
  c.input.erase(0, start);
  flush(c);
}

nlohmann::json ControlServer::parseRequest(std::string_view line) const {
  int maxDepth = limits_.maxJsonDepth;
  return nlohmann::json::parse(line, [maxDepth](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > maxDepth) throw TooDeep{};
    return true;
  });
}

nlohmann::json ControlServer::answer(std::string_view line) {
  nlohmann::json request;
  try {
    request = parseRequest(line);
  } catch (const nlohmann::json::parse_error& e) {
    return errorAnswer("the request is not valid JSON (at byte " + std::to_string(e.byte) +
                       "): " + chester::withoutJsonExceptionId(e.what()));
  } catch (const nlohmann::json::exception& e) {  // a number beyond a double's range, say
    return errorAnswer("the request is not valid JSON: " + chester::withoutJsonExceptionId(e.what()));
  } catch (const TooDeep&) {
    return errorAnswer("the request nests deeper than " + std::to_string(limits_.maxJsonDepth) + " levels");
  }
  if (!request.is_object())
    return errorAnswer("a request must be a JSON object, not " + std::string(request.type_name()));
  auto command = request.find("command");
  if (command == request.end() || !command->is_string()) {
    return errorAnswer("a request needs a \"command\" string");
  }
  const std::string& name = command->get_ref<const std::string&>();
  auto entry = handlers_.find(name);
  if (entry == handlers_.end()) {
    std::string known;
    for (const auto& [n, handler] : handlers_) known += (known.empty() ? "" : ", ") + n;
    return errorAnswer("unknown command '" + name + "' (known: " + (known.empty() ? "none" : known) + ")");
  }
  Handler handler = entry->second;  // a copy: the handler may register others
  try {
    nlohmann::json result = handler(request);
    if (!result.is_object()) return errorAnswer("the handler of '" + name + "' answered no JSON object");
    return result;
  } catch (const std::exception& e) {
    return errorAnswer(e.what());
  } catch (...) {
    return errorAnswer("the handler of '" + name + "' failed");
  }
}

void ControlServer::queue(Connection& c, const nlohmann::json& answer) {
  if (c.outputSent > 0 && c.outputSent >= c.output.size() / 2) {
    c.output.erase(0, c.outputSent);
    c.outputSent = 0;
  }
  c.output += answerLine(answer);
  // A client that does not read its answers is not kept around at any cost.
  if (c.unsentBytes() > limits_.maxUnsentBytes) close(c);
}

void ControlServer::flush(Connection& c) {
  while (!c.closed && c.unsentBytes() > 0) {
    ssize_t n = sendSome(c.fd, std::string_view(c.output).substr(c.outputSent));
    if (n < 0) {
      close(c);  // EPIPE, ECONNRESET: the peer is gone
      return;
    }
    if (n == 0) return;  // its buffer is full: POLLOUT tells when to go on
    c.outputSent += size_t(n);
  }
  c.output.clear();
  c.outputSent = 0;
}

void ControlServer::close(Connection& c) {
  if (c.closed) return;
  ::close(c.fd);
  c.closed = true;
  c.input.clear();
  c.input.shrink_to_fit();
  c.output.clear();
  c.output.shrink_to_fit();
  c.outputSent = 0;
}

void ControlServer::closeWithError(Connection& c, const std::string& message) {
  c.output += answerLine(errorAnswer(message));
  flush(c);
  close(c);
}

void ControlServer::refuse(int fd, const std::string& message) {
  sendSome(fd, answerLine(errorAnswer(message)));
  ::close(fd);
}

void ControlServer::closeExpiredPartialLines() {
  auto expired = [this](const Connection& c) {
    return !c.closed && !c.input.empty() && nowMicros() >= c.lastInputMicros + limits_.partialLineTimeoutMicros;
  };
  for (auto& c : connections_) {
    // What arrived while a handler held the loop counts: read it before judging.
    if (expired(*c)) {
      readFrom(*c);
      closeIfDone(*c);
    }
    if (expired(*c)) {
      closeWithError(*c, "request incomplete: no newline and nothing received for " +
                             std::to_string(limits_.partialLineTimeoutMicros / 1000) + " ms");
    }
  }
}

}  // namespace hypervisor
