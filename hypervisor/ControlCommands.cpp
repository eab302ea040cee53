// ControlCommands: see ControlCommands.h.
#include "hypervisor/ControlCommands.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "hypervisor/ControlClient.h"
#include "hypervisor/ControlReports.h"
#include "hypervisor/ExitStatus.h"

namespace hypervisor {

namespace {

using nlohmann::json;

const char* commandName(CommandLine::Command command) {
  switch (command) {
    case CommandLine::Command::Update:
      return "update";
    case CommandLine::Command::Status:
      return "status";
    case CommandLine::Command::Updates:
      return "updates";
    case CommandLine::Command::Snapshot:
      return "snapshot";
    default:
      return "?";
  }
}

// The exit status of an update by its record's outcome; nothing for an unknown outcome.
std::optional<ControlExitStatus> updateStatus(const json& record) {
  std::string outcome = record.is_object() && record.contains("outcome") && record["outcome"].is_string()
                            ? record["outcome"].get<std::string>()
                            : "";
  if (outcome == "committed") return ControlExitStatus::Committed;
  if (outcome == "rolled-back") return ControlExitStatus::RolledBack;
  if (outcome == "refused") return ControlExitStatus::Refused;
  if (outcome == "timed-out") return ControlExitStatus::TimedOut;
  return std::nullopt;
}

// The update request: the script travels in the request (the VM never reads client
// paths), named by its file name alone.
std::optional<json> updateRequest(const std::string& scriptPath, std::string& error) {
  std::error_code ignored;
  if (std::filesystem::is_directory(scriptPath, ignored)) {
    error = "the update script " + scriptPath + " is a directory";
    return std::nullopt;
  }
  std::ifstream in(scriptPath, std::ios::binary);
  if (!in) {
    error = "cannot read the update script " + scriptPath + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    error = "cannot read the update script " + scriptPath;
    return std::nullopt;
  }
  json request = {{"command", "update"},
                  {"name", std::filesystem::path(scriptPath).filename().string()},
                  {"script", content.str()}};
  try {
    (void)request.dump();  // strict: throws on text that is not UTF-8
  } catch (const json::type_error&) {
    error = "the update script " + scriptPath + " is not UTF-8 text";
    return std::nullopt;
  }
  return request;
}

void print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
}

}  // namespace

int runControlCommand(const CommandLine& cl, std::FILE* out, std::FILE* err) {
  const char* name = commandName(cl.command);
  json request = {{"command", name}};
  if (cl.command == CommandLine::Command::Update) {
    std::string error;
    std::optional<json> update = updateRequest(cl.script, error);
    if (update && cl.deadlineMs != 0) (*update)["deadlineMs"] = cl.deadlineMs;
    if (!update) {
      std::fprintf(err, "espell update: %s\n", error.c_str());
      return code(ControlExitStatus::ScriptUnreadable);
    }
    request = std::move(*update);
  }
  if (cl.command == CommandLine::Command::Snapshot) {
    // The VM may run in another directory: it gets the image's absolute path.
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::absolute(cl.snapshotDirectory, ec);
    if (ec) {
      std::fprintf(err, "espell snapshot: %s: %s\n", cl.snapshotDirectory.c_str(), ec.message().c_str());
      return code(ControlExitStatus::ControlError);
    }
    request = {{"command", "snapshot"},
               {"directory", dir.lexically_normal().string()},
               {"space", cl.snapshotSpace},
               {"mode", cl.snapshotMode}};
    if (cl.deadlineMs != 0) request["deadlineMs"] = cl.deadlineMs;
  }
  ControlReply reply = askVm(cl.controlSocket, request);
  if (reply.kind != ControlReply::Kind::Answered) {
    std::fprintf(err, "espell %s: %s\n", name, reply.error.c_str());
    return code(reply.kind == ControlReply::Kind::NoVm ? ControlExitStatus::NoVm : ControlExitStatus::ControlError);
  }
  const char* field = cl.command == CommandLine::Command::Update     ? "record"
                      : cl.command == CommandLine::Command::Status   ? "status"
                      : cl.command == CommandLine::Command::Snapshot ? "report"
                                                                     : "records";
  if (!reply.answer.contains(field)) {
    std::fprintf(err, "espell %s: the VM's answer has no \"%s\": %s\n", name, field,
                 reply.answer.dump().substr(0, 300).c_str());
    return code(ControlExitStatus::ControlError);
  }
  const json& value = reply.answer[field];
  if (cl.json) {
    print(out, value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  } else if (cl.command == CommandLine::Command::Update) {
    print(out, describeUpdateRecord(value));
  } else if (cl.command == CommandLine::Command::Status) {
    print(out, describeStatus(value));
  } else if (cl.command == CommandLine::Command::Snapshot) {
    print(out,
          value.contains("text") && value["text"].is_string() ? value["text"].get<std::string>() : value.dump() + "\n");
  } else {
    print(out, describeUpdateList(value));
  }
  std::fflush(out);
  if (cl.command != CommandLine::Command::Update) return code(ControlExitStatus::Answered);
  std::optional<ControlExitStatus> status = updateStatus(value);
  if (!status) {
    std::fprintf(err, "espell update: the record has no known outcome (committed, rolled-back, refused, timed-out)\n");
    return code(ControlExitStatus::ControlError);
  }
  return code(*status);
}

}  // namespace hypervisor
