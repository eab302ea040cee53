// GuestStatus: the answer to the control socket's `status` command — the state of the
// guest, its uptime and program, its processes, heap figures and how many updates were
// applied to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hypervisor {

class Vm;

class GuestStatus {
 public:
  // How long a status request may take to pause the guest for its process list. A guest
  // that does not reach its update points by then runs on untouched and the status says
  // which processes did not arrive instead of listing them.
  static constexpr std::chrono::milliseconds kPauseDeadline{100};

  // `program` and `arguments` as given on the command line; the uptime counts from now.
  GuestStatus(Vm& vm, std::string program, std::vector<std::string> arguments);

  // How many updates have been committed to the guest, asked at each report (the update
  // engine wires it; until then: 0).
  void setUpdatesApplied(std::function<int64_t()> count) { updatesApplied_ = std::move(count); }

  // {"ok":true,"status":{...}}: the control socket handler of `status`.
  nlohmann::json answer();

 private:
  nlohmann::json heap() const;
  // The guest's processes, or the reason they cannot be listed now (in `unavailable`).
  nlohmann::json processes(std::string& unavailable);

  Vm& vm_;
  std::string program_;
  std::vector<std::string> arguments_;
  std::chrono::steady_clock::time_point started_;
  std::function<int64_t()> updatesApplied_;
};

}  // namespace hypervisor
