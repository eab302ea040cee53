// Socket primitives: non-blocking TCP over file descriptors. None of them blocks: an
// operation that would block answers -1 and the Smalltalk side (Socket.som) waits on a
// semaphore that the I/O poller signals when the descriptor is ready. Failures set the
// runtime's last socket error (Socket class>>primLastError) and fail the primitive.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "space/KernelWrites.h"
#include "vm/IoPoller.h"
#include "vm/Scheduler.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

PrimitiveResult fail(Interpreter& in, const std::string& what) {
  in.runtime().setLastSocketError(what + ": " + std::strerror(errno));
  return kFail;
}

// Sockets hold a descriptor handle, not the bare number: the descriptor in the low 32
// bits and the runtime's descriptor epoch above (Runtime::descriptorEpoch). A Socket in a
// resumed image holds a handle of the process the image was taken from, whose number may
// now be closed or belong to something else entirely: its epoch differs, and it is refused
// with a clear error (closing it does nothing).
int64_t handleFor(Runtime& rt, int fd) {
  return (int64_t(rt.descriptorEpoch()) << 32) | int64_t(fd);
}
int fdOf(Oop handle) {
  return int(handle.smallInteger() & 0xffffffff);
}
// A handle of a descriptor this runtime opened and has not closed.
bool isOwnedHandle(Runtime& rt, Oop o) {
  return o.isSmallInteger() && o.smallInteger() >= 0 && (o.smallInteger() >> 32) == int64_t(rt.descriptorEpoch()) &&
         rt.ownsDescriptor(fdOf(o));
}
bool isFd(Interpreter& in, Oop o) {
  if (!o.isSmallInteger() || o.smallInteger() < 0) return false;
  if (!isOwnedHandle(in.runtime(), o)) {
    in.runtime().setLastSocketError("the socket was opened by the process the image was taken from; it is closed here");
    return false;
  }
  return true;
}

// A byte buffer argument and a 1-based window into it.
bool byteWindow(Oop buffer, Oop start, Oop count, uint8_t*& data, size_t& n) {
  if (!buffer.isHeapObject() || !space::formatIsBytes(buffer.object()->format())) return false;
  if (!start.isSmallInteger() || !count.isSmallInteger()) return false;
  int64_t s = start.smallInteger(), c = count.smallInteger();
  int64_t size = int64_t(buffer.object()->byteLength());
  if (s < 1 || c < 0 || s - 1 + c > size) return false;
  data = buffer.object()->bytes() + (s - 1);
  n = size_t(c);
  return true;
}

// primListenOn: port host: hostString backlog: n  -> fd
ESPELL_PRIMITIVE(socketListen) {
  Runtime& rt = in.runtime();
  Oop port = arg(in, argc, 0), host = arg(in, argc, 1), backlog = arg(in, argc, 2);
  if (!port.isSmallInteger() || port.smallInteger() < 0 || port.smallInteger() > 65535 || !isString(rt, host) ||
      !backlog.isSmallInteger()) {
    rt.setLastSocketError("listen: invalid arguments");
    return kFail;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port.smallInteger()));
  std::string h(bytesOf(host));
  if (inet_pton(AF_INET, h.c_str(), &addr.sin_addr) != 1) {
    rt.setLastSocketError("listen: not an IPv4 address: " + h);
    return kFail;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(in, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, int(backlog.smallInteger())) != 0) {
    PrimitiveResult r = fail(in, "listen on " + h + ":" + std::to_string(port.smallInteger()));
    close(fd);
    return r;
  }
  in.runtime().noteDescriptorOpened(fd);
  return answerInt(in, argc, handleFor(in.runtime(), fd));
}

// primAccept: fd  -> new fd, or -1 when no connection is pending
ESPELL_PRIMITIVE(socketAccept) {
  Oop fd = arg(in, argc, 0);
  if (!isFd(in, fd)) return kFail;
  int c = accept4(fdOf(fd), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
      return answerInt(in, argc, -1);
    return fail(in, "accept");
  }
  int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  in.runtime().noteDescriptorOpened(c);
  return answerInt(in, argc, handleFor(in.runtime(), c));
}

// primConnectTo: host port: port  -> fd (connection possibly in progress)
ESPELL_PRIMITIVE(socketConnect) {
  Runtime& rt = in.runtime();
  Oop host = arg(in, argc, 0), port = arg(in, argc, 1);
  if (!isString(rt, host) || !port.isSmallInteger() || port.smallInteger() <= 0 || port.smallInteger() > 65535) {
    rt.setLastSocketError("connect: invalid arguments");
    return kFail;
  }
  std::string h(bytesOf(host));
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || !res) {
    rt.setLastSocketError("connect: cannot resolve " + h);
    return kFail;
  }
  sockaddr_in addr = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  freeaddrinfo(res);
  addr.sin_port = htons(uint16_t(port.smallInteger()));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(in, "socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    PrimitiveResult r = fail(in, "connect to " + h + ":" + std::to_string(port.smallInteger()));
    close(fd);
    return r;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  in.runtime().noteDescriptorOpened(fd);
  return answerInt(in, argc, handleFor(in.runtime(), fd));
}

// primConnectResult: fd  -> true once connected; fails with the connection error
ESPELL_PRIMITIVE(socketConnectResult) {
  Oop fd = arg(in, argc, 0);
  if (!isFd(in, fd)) return kFail;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fdOf(fd), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return fail(in, "connect");
  if (err != 0) {
    errno = err;
    return fail(in, "connect");
  }
  return answerBool(in, argc, true);
}

// primRead: fd into: buffer startingAt: i count: n  -> bytes read, 0 at end, -1 when none yet
ESPELL_PRIMITIVE(socketRead) {
  Oop fd = arg(in, argc, 0);
  uint8_t* data;
  size_t n;
  if (!isFd(in, fd) || !byteWindow(arg(in, argc, 1), arg(in, argc, 2), arg(in, argc, 3), data, n)) return kFail;
  ssize_t r = space::readIntoHeap(fdOf(fd), data, n);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return answerInt(in, argc, -1);
    return fail(in, "read");
  }
  if (r > 0) arg(in, argc, 1).object()->noteBytesWritten();  // a String buffer may now hold any byte
  return answerInt(in, argc, r);
}

// primWrite: fd from: buffer startingAt: i count: n  -> bytes written, -1 when none could be
ESPELL_PRIMITIVE(socketWrite) {
  Oop fd = arg(in, argc, 0);
  uint8_t* data;
  size_t n;
  if (!isFd(in, fd) || !byteWindow(arg(in, argc, 1), arg(in, argc, 2), arg(in, argc, 3), data, n)) return kFail;
  space::beforeKernelRead(data, n);
  ssize_t r = send(fdOf(fd), data, n, MSG_NOSIGNAL);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return answerInt(in, argc, -1);
    return fail(in, "write");
  }
  return answerInt(in, argc, r);
}

// primWatch: fd forWriting: aBoolean signal: aSemaphore — one-shot readiness notification
ESPELL_PRIMITIVE(socketWatch) {
  Runtime& rt = in.runtime();
  Oop fd = arg(in, argc, 0), writing = arg(in, argc, 1), sem = arg(in, argc, 2);
  if (!isFd(in, fd) || !sem.isHeapObject() ||
      !inheritsFrom(rt, rt.classOf(sem), rt.special(special::kClassSemaphore))) {
    return kFail;
  }
  rt.scheduler().io().watch(fdOf(fd), writing == rt.trueObject() ? IoPoller::Writable : IoPoller::Readable,
                            space::Handle(in.space(), sem), rt.scheduler());
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(socketClose) {
  Oop fd = arg(in, argc, 0);
  // A socket of the process the image was taken from is closed already: nothing to do.
  if (fd.isSmallInteger() && !isOwnedHandle(in.runtime(), fd)) {
    return answer(in, argc, receiver(in, argc));
  }
  if (!isFd(in, fd)) return kFail;
  in.runtime().noteDescriptorClosed(fdOf(fd));
  // Wake whoever waits on it first, so no process waits forever on a closed socket.
  in.runtime().scheduler().io().forget(fdOf(fd), in.runtime().scheduler());
  close(fdOf(fd));
  return answer(in, argc, receiver(in, argc));
}

// primAbort: fd — closes with SO_LINGER 0: unsent data is dropped and the peer gets a RST.
ESPELL_PRIMITIVE(socketAbort) {
  Oop fd = arg(in, argc, 0);
  if (fd.isSmallInteger() && !isOwnedHandle(in.runtime(), fd)) {
    return answer(in, argc, receiver(in, argc));
  }
  if (!isFd(in, fd)) return kFail;
  in.runtime().noteDescriptorClosed(fdOf(fd));
  in.runtime().scheduler().io().forget(fdOf(fd), in.runtime().scheduler());
  linger abortive{1, 0};
  setsockopt(fdOf(fd), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  close(fdOf(fd));
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(socketLocalPort) {
  Oop fd = arg(in, argc, 0);
  if (!isFd(in, fd)) return kFail;
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fdOf(fd), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return fail(in, "getsockname");
  return answerInt(in, argc, ntohs(addr.sin_port));
}

ESPELL_PRIMITIVE(socketRemoteAddress) {
  Oop fd = arg(in, argc, 0);
  if (!isFd(in, fd)) return kFail;
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fdOf(fd), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return fail(in, "getpeername");
  char buf[INET_ADDRSTRLEN] = {0};
  inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof buf);
  return answerString(in, argc, std::string(buf) + ":" + std::to_string(ntohs(addr.sin_port)));
}

ESPELL_PRIMITIVE(socketLastError) {
  return answerString(in, argc, in.runtime().lastSocketError());
}

ESPELL_PRIMITIVE(socketOpenCount) {
  // Descriptors this process has open (for leak checks in tests).
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) n++;
    closedir(d);
    n -= 3;  // ".", ".." and the directory's own descriptor
  }
  return answerInt(in, argc, n);
}

}  // namespace
}  // namespace prim

void registerSocketPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Socket class>>primListenOn:host:backlog:", socketListen);
  t.add("Socket class>>primConnectTo:port:", socketConnect);
  t.add("Socket class>>primLastError", socketLastError);
  t.add("Socket class>>primOpenDescriptorCount", socketOpenCount);
  t.add("Socket>>primAccept:", socketAccept);
  t.add("Socket>>primConnectResult:", socketConnectResult);
  t.add("Socket>>primRead:into:startingAt:count:", socketRead);
  t.add("Socket>>primWrite:from:startingAt:count:", socketWrite);
  t.add("Socket>>primWatch:forWriting:signal:", socketWatch);
  t.add("Socket>>primClose:", socketClose);
  t.add("Socket>>primAbort:", socketAbort);
  t.add("Socket>>primLocalPort:", socketLocalPort);
  t.add("Socket>>primRemoteAddress:", socketRemoteAddress);
}

}  // namespace vm
