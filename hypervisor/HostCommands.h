// HostCommands: the host's commands about its guest (status, update, updates, snapshot) by
// name — one table served both by the control socket (ControlServer) and by the console
// (Console), so both answer the same requests with the same JSON.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace hypervisor {

class HostCommands {
 public:
  // Answers the whole answer object ({"ok":true,...}); throws to answer an error.
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  void on(std::string command, Handler handler) { handlers_[std::move(command)] = std::move(handler); }
  const std::map<std::string, Handler>& handlers() const { return handlers_; }
  bool has(const std::string& command) const { return handlers_.count(command) != 0; }
  // Runs the handler of request["command"]; an unknown command or what a handler throws
  // is answered {"ok":false,"error":...}.
  nlohmann::json answer(const nlohmann::json& request) const;

 private:
  std::map<std::string, Handler> handlers_;
};

}  // namespace hypervisor
