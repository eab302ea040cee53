// ControlReports: see ControlReports.h.
#include "hypervisor/ControlReports.h"

#include <cstdio>

namespace hypervisor {

namespace {

using nlohmann::json;

// A scalar as text: strings without quotes, anything else as JSON.
std::string text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool present(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && !object[key].is_null() &&
         !(object[key].is_string() && object[key].get<std::string>().empty());
}

std::string mebibytes(const json& bytes) {
  if (!bytes.is_number()) return text(bytes);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f MiB", bytes.get<double>() / 1048576.0);
  return buffer;
}

std::string milliseconds(const json& micros) {
  if (!micros.is_number()) return text(micros);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f ms", micros.get<double>() / 1000.0);
  return buffer;
}

// The processes that did not reach an update point: names (with state when given).
std::string processNames(const json& processes) {
  if (!processes.is_array()) return text(processes);
  std::string out;
  for (const json& p : processes) {
    if (!out.empty()) out += ", ";
    if (p.is_object()) {
      out += p.contains("name") ? text(p["name"]) : text(p);
      if (p.contains("state")) out += " (" + text(p["state"]) + ")";
    } else {
      out += text(p);
    }
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::string describeUpdateRecord(const json& record) {
  std::string out = "update";
  if (present(record, "id")) out += " " + text(record["id"]);
  if (present(record, "script")) out += " (" + text(record["script"]) + ")";
  out += ": " + (present(record, "outcome") ? text(record["outcome"]) : std::string("no outcome")) + "\n";
  auto line = [&](const char* label, const char* key) {
    if (present(record, key)) out += std::string("  ") + label + ": " + text(record[key]) + "\n";
  };
  line("description", "description");
  line("form", "form");
  line("sha256", "sha256");
  line("failed step", "failedStep");
  line("error", "error");
  std::string changed;
  auto count = [&](const char* key, const char* what) {
    if (!present(record, key)) return;
    changed += (changed.empty() ? "" : ", ") + text(record[key]) + " " + what;
  };
  count("classesChanged", "classes");
  count("methodsChanged", "methods");
  count("instancesMigrated", "instances migrated");
  count("pagesSaved", "pages saved");
  count("pauseFaults", "page faults in the pause");
  if (!changed.empty()) out += "  changed: " + changed + "\n";
  if (present(record, "timings") && record["timings"].is_object()) {
    std::string timings;
    for (const char* phase : {"validate", "pause", "checkpoint", "apply", "verify", "rollback", "commit", "guestPause",
                              "guestPauseCpu", "total"}) {
      if (present(record["timings"], phase)) {
        timings += (timings.empty() ? "" : ", ") + std::string(phase) + " " + text(record["timings"][phase]);
      }
    }
    if (!timings.empty()) out += "  timings (µs): " + timings + "\n";
  }
  if (present(record, "notArrived") && !(record["notArrived"].is_array() && record["notArrived"].empty())) {
    out += "  not at an update point: " + processNames(record["notArrived"]) + "\n";
  }
  return out;
}

std::string describeUpdateList(const json& records) {
  if (!records.is_array() || records.empty()) return "no updates\n";
  std::string out;
  for (const json& r : records) {
    std::string pause = present(r, "timings") && present(r["timings"], "guestPause")
                            ? "guest paused " + text(r["timings"]["guestPause"]) + " µs"
                            : "guest not paused";
    out += (present(r, "id") ? text(r["id"]) : std::string("?")) + "  " +
           (present(r, "outcome") ? text(r["outcome"]) : std::string("?")) + "  " +
           (present(r, "script") ? text(r["script"]) : std::string("?")) + "  " + pause + "\n";
  }
  return out;
}

std::string describeStatus(const json& status) {
  std::string out;
  char uptime[32] = "?";
  if (present(status, "uptimeSeconds") && status["uptimeSeconds"].is_number()) {
    std::snprintf(uptime, sizeof uptime, "%.1f s", status["uptimeSeconds"].get<double>());
  }
  out += "guest: " + (present(status, "state") ? text(status["state"]) : std::string("?")) + ", up " + uptime;
  if (present(status, "pid")) out += ", pid " + text(status["pid"]);
  out += "\n";
  if (present(status, "program")) {
    out += "program: " + text(status["program"]);
    if (status.contains("arguments") && status["arguments"].is_array()) {
      for (const json& a : status["arguments"]) out += " " + text(a);
    }
    out += "\n";
  }
  if (present(status, "updatesApplied")) out += "updates applied: " + text(status["updatesApplied"]) + "\n";
  if (present(status, "heap") && status["heap"].is_object()) {
    const json& h = status["heap"];
    out += "heap: old space " + mebibytes(h.value("oldSpaceCommittedBytes", json())) + " committed, " +
           mebibytes(h.value("liveBytesAtLastFullCollection", json())) + " live at the last full collection, eden " +
           mebibytes(h.value("edenBytes", json())) + "\n";
    out += "collections: " + text(h.value("scavenges", json())) + " scavenges, " +
           text(h.value("fullCollections", json())) + " full";
    if (present(h, "maxScavengeMicros") && present(h, "maxFullCollectionMicros")) {
      out += " (longest pauses: scavenge " + milliseconds(h["maxScavengeMicros"]) + ", full " +
             milliseconds(h["maxFullCollectionMicros"]) + ")";
    }
    out += "\n";
  }
  if (status.contains("processes") && status["processes"].is_array()) {
    out += "processes (" + std::to_string(status["processes"].size()) + "):\n";
    for (const json& p : status["processes"]) {
      if (!p.is_object()) {
        out += "  " + text(p) + "\n";
        continue;
      }
      char row[64];
      std::snprintf(row, sizeof row, "  %-4s %-12s ", text(p.value("priority", json())).c_str(),
                    text(p.value("state", json())).c_str());
      out += row + text(p.value("name", json())) + "\n";
    }
  }
  if (present(status, "processesUnavailable")) out += "processes: " + text(status["processesUnavailable"]) + "\n";
  return out;
}

}  // namespace hypervisor
