// ControlReports: the control socket's answers as text for people — an update's record,
// the list of updates, the status of a VM. Fields a record lacks are left out, so the
// text follows what the update engine reports.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace hypervisor {

// An update record (id, script, sha256, form, description, outcome, failedStep, error,
// timings in microseconds, counts of what changed, notArrived): several lines.
std::string describeUpdateRecord(const nlohmann::json& record);
// One line per record: id, outcome, script, how long the guest was paused.
std::string describeUpdateList(const nlohmann::json& records);
// The object of a `status` answer.
std::string describeStatus(const nlohmann::json& status);

}  // namespace hypervisor
