// HeapDigest: a fingerprint of everything reachable in a space — from its special objects
// (globals, class table, symbol table, Processor with its ready and paused lists, ...)
// and from the runtime's C++ roots (pending timers' semaphores, I/O waiters) — that does
// not depend on addresses. Objects are walked breadth-first in a canonical order and
// named by the order in which the walk first reaches them, so two spaces holding the same
// graph (before an update and after its rollback; before a snapshot and after resuming
// it; before and after a collection) give the same digest, and any difference in a
// class, a method dictionary, an instance's contents, an identity hash, a process or a
// frame changes it.
//
// Per object it hashes: its class (by walk order), format, size, identity hash, and its
// contents — references by walk order, immediates by value, raw words and bytes as they
// are; for a process stack only the live slots. GC state (ages, marks, remembered bits)
// and free memory are not part of it. Forwarders left by become are followed.
#pragma once

#include <cstddef>
#include <string>

namespace vm {

class Runtime;

struct HeapDigest {
  std::string sha256;  // hex
  size_t objects = 0;  // reachable objects
  size_t bytes = 0;    // their size, headers included
  bool operator==(const HeapDigest& o) const { return sha256 == o.sha256; }
};

// Whether pending timers count with their deadlines (a rollback restores them exactly) or
// by id and semaphore only (a resumed image re-arms them relative to the resume).
enum class TimerDeadlines { Included, Excluded };

// Walks the space of `rt`, which must be quiescent (no process running). Allocates
// nothing in the heap.
HeapDigest digestOf(Runtime& rt, TimerDeadlines deadlines = TimerDeadlines::Included);

}  // namespace vm
