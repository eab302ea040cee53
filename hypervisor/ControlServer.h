// ControlServer: the control socket of a running VM — a Unix-domain stream socket on which
// local clients (`espell status`, `espell update`, ...) send commands to the hypervisor.
// One JSON object per line each way: a request {"command": NAME, ...} and its answer,
// {"ok":true, ...} or {"ok":false,"error":MESSAGE}. Commands are dispatched through a
// table filled with on(); the handler builds the whole answer.
//
// The server owns no thread and never blocks: the host loop watches pollDescriptors(),
// wakes up by nextDeadlineMicros() at the latest, and calls poll(), which accepts, reads,
// handles complete requests one at a time in arrival order and writes what it can.
// Handlers run synchronously inside poll() (an update pauses and resumes the guest
// there), so requests are serialised: a second client simply waits for its answer.
//
// What one peer can cost is bounded (Limits): its pending request line, its unsent
// answers, the time a partial line may stay silent, and the number of connections.
// Only peers whose uid (SO_PEERCRED) is the allowed one are served; the socket file is
// created with mode 0600 and unlinked when the server is destroyed.
#pragma once

#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hypervisor {

// The control socket cannot be created: another VM answers at the path, the path is not
// a socket, or the system refused (the message names the path and why).
class ControlSocketError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What one peer of a ControlServer can cost (the constants are the defaults).
struct ControlLimits {
  static constexpr size_t kMaxLineBytes = size_t(16) << 20;
  static constexpr int64_t kPartialLineTimeoutMicros = 10'000'000;
  static constexpr size_t kMaxConnections = 16;
  static constexpr size_t kMaxUnsentBytes = size_t(64) << 20;
  static constexpr int kMaxJsonDepth = 512;

  // A request line longer than this (newline excluded) is answered with an error and
  // its connection closed; no more than this (plus the newline) is ever buffered.
  size_t maxLineBytes = kMaxLineBytes;
  // A connection that sent part of a line and then nothing for this long is closed.
  int64_t partialLineTimeoutMicros = kPartialLineTimeoutMicros;
  // Connections beyond this many are answered with an error and closed at once.
  size_t maxConnections = kMaxConnections;
  // A connection whose unsent answers exceed this (its client does not read) is closed.
  size_t maxUnsentBytes = kMaxUnsentBytes;
  // Deeper JSON nesting in a request is refused while parsing (it only costs memory).
  int maxJsonDepth = kMaxJsonDepth;
};

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  using Limits = ControlLimits;

  // Listens at `path`. An existing socket file there is replaced only when nobody answers
  // on it (a VM that died without removing it); anything else there, or a live VM, is a
  // ControlSocketError. Peers whose uid is not `allowedUid` are refused.
  explicit ControlServer(std::string path, uid_t allowedUid = ::geteuid(), Limits limits = Limits());
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Registers (or replaces) the handler of `command`. It answers the whole answer object;
  // an exception it throws is answered as {"ok":false,"error":what}.
  void on(std::string command, Handler handler);

  // What the host loop must watch: the listening socket and every connection (POLLIN,
  // and POLLOUT while it has unsent output). poll() acts on each readiness reported, so
  // watching these never makes the host loop spin.
  std::vector<pollfd> pollDescriptors() const;
  // When poll() must run at the latest (a partial line's timeout; steady clock in
  // microseconds, as vm::Scheduler::nowMicros), or INT64_MAX.
  int64_t nextDeadlineMicros() const;
  // Does all pending work without blocking (apart from the handlers themselves).
  void poll();

  const std::string& path() const { return path_; }
  size_t connectionCount() const { return connections_.size(); }

 private:
  struct Connection;

  void listenAt();
  void acceptAll();
  void serve(Connection& c, short revents);
  void readFrom(Connection& c);
  void handleCompleteLines(Connection& c, size_t scanFrom);
  nlohmann::json parseRequest(std::string_view line) const;
  nlohmann::json answer(std::string_view line);
  void queue(Connection& c, const nlohmann::json& answer);
  void flush(Connection& c);
  void close(Connection& c);
  // Closes `c` once its peer has stopped sending and every answer is written.
  void closeIfDone(Connection& c);
  // Sends `message` as a last error answer (what fits without waiting) and closes.
  void closeWithError(Connection& c, const std::string& message);
  void refuse(int fd, const std::string& message);
  void closeExpiredPartialLines();

  std::string path_;
  uid_t allowedUid_;
  Limits limits_;
  int listenFd_ = -1;
  // Accepting pauses until then after the process ran out of descriptors, rather than
  // finding the listening socket readable again at once (steady clock, microseconds).
  int64_t acceptPausedUntil_ = 0;
  std::map<std::string, Handler> handlers_;
  // In accepting order; closed ones are erased at the end of poll().
  std::vector<std::unique_ptr<Connection>> connections_;
  // The socket file we bound (its device and inode): the destructor unlinks the path only
  // while it is still that file.
  dev_t socketDevice_ = 0;
  ino_t socketInode_ = 0;
};

}  // namespace hypervisor
