// ControlClient: one request to a running VM's control socket and its answer (see
// ControlServer.h for the protocol). The CLI's update, status and updates commands use it.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace hypervisor {

struct ControlReply {
  enum class Kind {
    Answered,  // the VM answered {"ok":true, ...}: `answer`
    NoVm,      // nobody answers at the path (no such file, not a socket, nobody listens)
    Failed,    // no usable answer, or {"ok":false,...}: `error` says what happened
  };
  Kind kind = Kind::Failed;
  nlohmann::json answer;
  std::string error;
};

// Waits that long for an answer: an update pauses the guest, checkpoints, applies and
// verifies, which takes seconds on a large heap, never minutes unless something is wrong.
constexpr std::chrono::minutes kControlAnswerTimeout{10};
// An answer longer than this is not read (the server keeps at most 64 MiB unsent).
constexpr size_t kMaxControlAnswerBytes = size_t(128) << 20;

// Sends `request` as one line to the VM at `socketPath` and reads its answer line.
ControlReply askVm(const std::string& socketPath, const nlohmann::json& request,
                   std::chrono::milliseconds timeout = kControlAnswerTimeout);

}  // namespace hypervisor
