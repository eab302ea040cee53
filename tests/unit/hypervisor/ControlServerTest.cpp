// ControlServer: the control socket's protocol (one JSON object per line each way, a
// dispatch table, errors answered without closing), its limits (line length, silence in
// the middle of a line, connections, unsent answers), who may connect (uid, mode 0600)
// and what happens to the socket file (a stale one replaced, a live one left alone,
// ours unlinked). The server runs in the test's thread, polled as the host loop does;
// clients are plain sockets (a thread where a client must block).
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "hypervisor/ControlClient.h"
#include "hypervisor/ControlServer.h"
#include "hypervisor/UnixSocket.h"

using hypervisor::ControlLimits;
using hypervisor::ControlServer;
using hypervisor::ControlSocketError;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

// A fresh directory for one test's socket (paths stay far below sun_path's 108 bytes).
struct SocketDirectory {
  std::filesystem::path dir;
  SocketDirectory() {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("espell-control-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
  }
  ~SocketDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::string socket() const { return (dir / "control.sock").string(); }
};

// A client connection; reads answers while polling the server, as the host loop would.
struct Client {
  int fd = -1;
  std::string buffer;
  bool ended = false;  // end of stream or reset: the server closed the connection

  explicit Client(const std::string& path) {
    fd = hypervisor::connectUnixSocket(path);
    REQUIRE_MESSAGE(fd >= 0, "connect: " << std::strerror(errno));
  }
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool send(std::string_view bytes) const {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      bytes.remove_prefix(size_t(n));
    }
    return true;
  }

  // Reads what has arrived, without waiting.
  void receive() {
    char chunk[65536];
    for (;;) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) {
        buffer.append(chunk, size_t(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) ended = true;
      return;
    }
  }

  std::optional<std::string> takeLine() {
    size_t nl = buffer.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    std::string line = buffer.substr(0, nl);
    buffer.erase(0, nl + 1);
    return line;
  }
};

// Polls the server until `done` holds or `seconds` pass.
template <class Condition>
bool pollUntil(ControlServer& server, Condition done, double seconds = 5.0) {
  auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    server.poll();
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

// The next answer line on `c`, parsed.
json answerOn(ControlServer& server, Client& c) {
  std::optional<std::string> line;
  bool got = pollUntil(server, [&] {
    c.receive();
    line = c.takeLine();
    return line.has_value() || c.ended;
  });
  REQUIRE_MESSAGE(got, "no answer within 5 s");
  REQUIRE_MESSAGE(line.has_value(), "the connection ended without an answer");
  return json::parse(*line);
}

json exchange(ControlServer& server, Client& c, const std::string& line) {
  REQUIRE(c.send(line + "\n"));
  return answerOn(server, c);
}

// Whether the server closes `c` (after any answer still to read) within `seconds`.
bool closedByServer(ControlServer& server, Client& c, double seconds = 5.0) {
  return pollUntil(
      server,
      [&] {
        c.receive();
        return c.ended;
      },
      seconds);
}

std::string errorOf(const json& answer) {
  REQUIRE(answer.is_object());
  CHECK(answer.value("ok", true) == false);
  return answer.value("error", std::string());
}

void addEcho(ControlServer& server) {
  server.on("echo", [](const json& request) { return json{{"ok", true}, {"echo", request}}; });
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("control server: a registered command answers what its handler answers, in order, on one connection") {
  SocketDirectory d;
  ControlServer server(d.socket());
  addEcho(server);
  int calls = 0;
  server.on("count", [&](const json&) { return json{{"ok", true}, {"calls", ++calls}}; });
  Client c(d.socket());
  json a = exchange(server, c, R"({"command":"echo","x":[1,2]})");
  CHECK(a == json{{"ok", true}, {"echo", {{"command", "echo"}, {"x", {1, 2}}}}});
  // Pipelined requests are answered one at a time, in arrival order.
  REQUIRE(c.send("{\"command\":\"count\"}\n{\"command\":\"count\"}\n{\"command\":\"count\"}\n"));
  for (int i = 1; i <= 3; i++) CHECK(answerOn(server, c)["calls"] == i);
  CHECK(server.connectionCount() == 1);
}

TEST_CASE("control server: bad requests and unknown commands get error answers; the connection stays open") {
  SocketDirectory d;
  ControlServer server(d.socket());
  addEcho(server);
  Client c(d.socket());
  std::string notJson = errorOf(exchange(server, c, R"({"command": "echo", oops})"));
  INFO(notJson);
  CHECK(contains(notJson, "not valid JSON (at byte 21)"));
  CHECK(contains(errorOf(exchange(server, c, "")), "not valid JSON"));
  CHECK(contains(errorOf(exchange(server, c, R"({"command": "echo", "n": 1E400})")), "number overflow"));
  CHECK(contains(errorOf(exchange(server, c, "[1,2,3]")), "must be a JSON object, not array"));
  CHECK(contains(errorOf(exchange(server, c, R"({"name":"x"})")), "needs a \"command\" string"));
  CHECK(contains(errorOf(exchange(server, c, R"({"command":42})")), "needs a \"command\" string"));
  std::string unknown = errorOf(exchange(server, c, R"({"command":"launch"})"));
  CHECK(contains(unknown, "unknown command 'launch'"));
  CHECK(contains(unknown, "known: echo"));
  // Nesting deeper than the limit is refused while parsing.
  std::string deep(ControlLimits::kMaxJsonDepth + 10, '[');
  CHECK(contains(errorOf(exchange(server, c, deep)), "nests deeper than 512"));
  CHECK(exchange(server, c, R"({"command":"echo"})")["ok"] == true);
  CHECK(server.connectionCount() == 1);
}

TEST_CASE("control server: an exception in a handler is answered as the error; a non-object answer is refused") {
  SocketDirectory d;
  ControlServer server(d.socket());
  server.on("fail", [](const json&) -> json { throw std::runtime_error("the guest is on fire"); });
  server.on("number", [](const json&) { return json(42); });
  addEcho(server);
  Client c(d.socket());
  CHECK(exchange(server, c, R"({"command":"fail"})") == json{{"ok", false}, {"error", "the guest is on fire"}});
  CHECK(contains(errorOf(exchange(server, c, R"({"command":"number"})")), "answered no JSON object"));
  CHECK(exchange(server, c, R"({"command":"echo"})")["ok"] == true);
}

TEST_CASE("control server: a line over the limit gets an error answer and the connection is closed") {
  SocketDirectory d;
  ControlLimits limits;
  limits.maxLineBytes = 1024;
  ControlServer server(d.socket(), ::geteuid(), limits);
  addEcho(server);
  {
    // Exactly at the limit: served.
    Client c(d.socket());
    std::string prefix = R"({"command":"echo","pad":")";
    std::string line = prefix + std::string(1024 - prefix.size() - 2, 'x') + "\"}";
    REQUIRE(line.size() == 1024);
    CHECK(exchange(server, c, line)["ok"] == true);
    // One byte more, without a newline yet: refused as soon as it is known.
    REQUIRE(c.send(std::string(1025, ' ')));
    CHECK(contains(errorOf(answerOn(server, c)), "longer than 1024 bytes"));
    CHECK(closedByServer(server, c));
  }
  CHECK(pollUntil(server, [&] { return server.connectionCount() == 0; }));
  Client other(d.socket());
  CHECK(exchange(server, other, R"({"command":"echo"})")["ok"] == true);
}

TEST_CASE("control server: a 17 MiB line against the real 16 MiB limit is refused at once, not at the 10 s deadline") {
  SocketDirectory d;
  ControlServer server(d.socket());
  addEcho(server);
  Client c(d.socket());
  // The client blocks while the server reads; it sends from a thread and stops when
  // the server closes (EPIPE or ECONNRESET).
  std::atomic<bool> sendDone{false};
  std::thread sender([&] {
    std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 17 && c.send(chunk); i++) {
    }
    sendDone = true;
  });
  auto start = Clock::now();
  json answer = answerOn(server, c);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  bool closed = closedByServer(server, c);
  sender.join();
  CHECK(contains(errorOf(answer), "longer than 16777216 bytes"));
  CHECK(closed);
  CHECK(sendDone);
  // Well before the partial-line deadline (10 s), with room for a sanitizer build on a
  // loaded machine (1.8 s was seen there).
  CHECK(seconds < 5.0);
  Client other(d.socket());
  CHECK(exchange(server, other, R"({"command":"echo"})")["ok"] == true);
}

TEST_CASE("control server: a partial line followed by silence is closed with an error at its deadline") {
  SocketDirectory d;
  ControlLimits limits;
  limits.partialLineTimeoutMicros = 200'000;
  ControlServer server(d.socket(), ::geteuid(), limits);
  addEcho(server);
  Client idle(d.socket());  // connected, sending nothing: no deadline
  Client slow(d.socket());
  CHECK(pollUntil(server, [&] { return server.connectionCount() == 2; }));
  CHECK(server.nextDeadlineMicros() == INT64_MAX);
  REQUIRE(slow.send(R"({"command":)"));
  auto sent = Clock::now();
  CHECK(pollUntil(server, [&] { return server.nextDeadlineMicros() != INT64_MAX; }));
  json answer = answerOn(server, slow);
  double waited = std::chrono::duration<double>(Clock::now() - sent).count();
  CHECK(contains(errorOf(answer), "request incomplete"));
  CHECK(waited >= 0.19);
  CHECK(closedByServer(server, slow));
  CHECK(server.nextDeadlineMicros() == INT64_MAX);
  // The idle connection is untouched.
  CHECK(exchange(server, idle, R"({"command":"echo"})")["ok"] == true);
}

TEST_CASE("control server: what arrives while a handler holds the loop counts before a partial line expires") {
  SocketDirectory d;
  ControlLimits limits;
  limits.partialLineTimeoutMicros = 500'000;
  ControlServer server(d.socket(), ::geteuid(), limits);
  addEcho(server);
  Client continuing(d.socket());
  Client ending(d.socket());
  Client asking(d.socket());
  REQUIRE(continuing.send(R"({"command":)"));
  REQUIRE(ending.send(R"({"command":)"));
  CHECK(pollUntil(server, [&] { return server.nextDeadlineMicros() != INT64_MAX; }));
  // A slow handler: meanwhile one partial line goes on and the other's peer stops sending.
  server.on("slow", [&](const json&) {
    REQUIRE(continuing.send(R"("echo"})"));
    ::shutdown(ending.fd, SHUT_WR);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return json{{"ok", true}};
  });
  CHECK(exchange(server, asking, R"({"command":"slow"})")["ok"] == true);
  CHECK(contains(errorOf(answerOn(server, ending)), "ended in the middle of a request"));
  CHECK(closedByServer(server, ending));
  REQUIRE(continuing.send("\n"));
  CHECK(answerOn(server, continuing)["ok"] == true);
  CHECK(server.connectionCount() == 2);
}

TEST_CASE("control server: a peer of another uid gets one error line and is closed") {
  SocketDirectory d;
  ControlServer server(d.socket(), ::geteuid() + 1);
  addEcho(server);
  Client c(d.socket());
  json answer = answerOn(server, c);
  CHECK(contains(errorOf(answer), "permission denied: uid " + std::to_string(::geteuid())));
  CHECK(closedByServer(server, c));
  CHECK(server.connectionCount() == 0);
}

TEST_CASE("control server: the socket file is mode 0600 and unlinked when the server is destroyed") {
  SocketDirectory d;
  {
    ControlServer server(d.socket());
    struct stat st {};
    REQUIRE(::lstat(d.socket().c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
  }
  CHECK(!std::filesystem::exists(d.socket()));
}

TEST_CASE("control server: a stale socket file is replaced; a live socket or another file is left alone") {
  SocketDirectory d;
  std::string path = d.socket();
  sockaddr_un address = hypervisor::unixSocketAddress(path);
  SUBCASE("stale: a socket file nobody listens on") {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    ::close(fd);  // the file stays: nobody answers there any more
    ControlServer server(path);
    addEcho(server);
    Client c(path);
    CHECK(exchange(server, c, R"({"command":"echo"})")["ok"] == true);
  }
  SUBCASE("live: another process listens there") {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    std::string message;
    try {
      ControlServer server(path);
    } catch (const ControlSocketError& e) {
      message = e.what();
    }
    CHECK(contains(message, path));
    CHECK(contains(message, "another process is listening there"));
    // Still the other's socket.
    int probe = hypervisor::connectUnixSocket(path);
    CHECK(probe >= 0);
    if (probe >= 0) ::close(probe);
    ::close(fd);
  }
  SUBCASE("a regular file") {
    std::ofstream(path) << "not a socket";
    CHECK_THROWS_WITH_AS(ControlServer{path}, doctest::Contains("exists and is not a socket"), ControlSocketError);
    CHECK(std::filesystem::file_size(path) == 12);
  }
}

TEST_CASE("control server: the 17th connection at once is refused; the 16 others are served") {
  SocketDirectory d;
  ControlServer server(d.socket());
  addEcho(server);
  std::vector<std::unique_ptr<Client>> clients;
  for (size_t i = 0; i < ControlLimits::kMaxConnections; i++) clients.push_back(std::make_unique<Client>(d.socket()));
  CHECK(pollUntil(server, [&] { return server.connectionCount() == ControlLimits::kMaxConnections; }));
  Client extra(d.socket());
  CHECK(contains(errorOf(answerOn(server, extra)), "too many control connections (at most 16)"));
  CHECK(closedByServer(server, extra));
  for (auto& c : clients) CHECK(exchange(server, *c, R"({"command":"echo"})")["ok"] == true);
  // Once one leaves, a new one is served.
  clients.pop_back();
  CHECK(pollUntil(server, [&] { return server.connectionCount() == ControlLimits::kMaxConnections - 1; }));
  Client next(d.socket());
  CHECK(exchange(server, next, R"({"command":"echo"})")["ok"] == true);
}

TEST_CASE("control server: a client that does not read is closed beyond the unsent limit; others are served") {
  SocketDirectory d;
  ControlLimits limits;
  limits.maxUnsentBytes = 1 << 20;
  ControlServer server(d.socket(), ::geteuid(), limits);
  server.on("big", [](const json&) { return json{{"ok", true}, {"data", std::string(256 << 10, 'y')}}; });
  addEcho(server);
  Client reader(d.socket());
  Client hog(d.socket());
  // Far more answers than the socket buffers and the limit hold, never read.
  std::string requests;
  for (int i = 0; i < 64; i++) requests += "{\"command\":\"big\"}\n";
  std::thread sender([&] { hog.send(requests); });
  bool dropped = pollUntil(server, [&] { return server.connectionCount() == 1; });
  sender.join();
  CHECK(dropped);
  CHECK(exchange(server, reader, R"({"command":"echo"})")["ok"] == true);
}

TEST_CASE("control server: peers that vanish mid-request or mid-answer do not disturb it") {
  SocketDirectory d;
  ControlServer server(d.socket());
  server.on("big", [](const json&) { return json{{"ok", true}, {"data", std::string(4 << 20, 'z')}}; });
  addEcho(server);
  {
    Client gone(d.socket());
    REQUIRE(gone.send("{\"command\":\"big\"}\n{\"command\":\"big\"}\n"));
  }  // closed before its answers are written: EPIPE for the server
  {
    Client half(d.socket());
    REQUIRE(half.send(R"({"command":"ec)"));
  }  // closed in the middle of a line
  {
    // Shut down for writing after a request: the answer still comes, then the close.
    Client shut(d.socket());
    REQUIRE(shut.send("{\"command\":\"echo\"}\n"));
    ::shutdown(shut.fd, SHUT_WR);
    CHECK(answerOn(server, shut)["ok"] == true);
    CHECK(closedByServer(server, shut));
  }
  CHECK(pollUntil(server, [&] { return server.connectionCount() == 0; }));
  Client c(d.socket());
  CHECK(exchange(server, c, R"({"command":"echo"})")["ok"] == true);
}

TEST_CASE("control client: answers, errors and a missing VM") {
  SocketDirectory d;
  using Kind = hypervisor::ControlReply::Kind;
  CHECK(hypervisor::askVm(d.socket(), {{"command", "status"}}).kind == Kind::NoVm);
  std::ofstream((d.dir / "file").string()) << "x";
  CHECK(hypervisor::askVm((d.dir / "file").string(), {{"command", "status"}}).kind == Kind::NoVm);

  ControlServer server(d.socket());
  addEcho(server);
  // The client blocks: it runs in a thread while this one polls the server.
  auto ask = [&](const json& request) {
    hypervisor::ControlReply reply;
    std::atomic<bool> done{false};
    std::thread client([&] {
      reply = hypervisor::askVm(d.socket(), request, std::chrono::seconds(5));
      done = true;
    });
    pollUntil(server, [&] { return done.load(); });
    client.join();
    return reply;
  };
  hypervisor::ControlReply ok = ask({{"command", "echo"}, {"n", 1}});
  CHECK(ok.kind == Kind::Answered);
  CHECK(ok.answer["echo"]["n"] == 1);
  hypervisor::ControlReply unknown = ask({{"command", "nothing"}});
  CHECK(unknown.kind == Kind::Failed);
  CHECK(contains(unknown.error, "unknown command 'nothing'"));
}
