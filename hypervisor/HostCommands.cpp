// HostCommands: see HostCommands.h.
#include "hypervisor/HostCommands.h"

namespace hypervisor {

nlohmann::json HostCommands::answer(const nlohmann::json& request) const {
  auto error = [](const std::string& text) { return nlohmann::json{{"ok", false}, {"error", text}}; };
  if (!request.is_object()) return error("a request must be a JSON object");
  auto command = request.find("command");
  if (command == request.end() || !command->is_string()) return error("a request needs a \"command\" string");
  auto entry = handlers_.find(command->get<std::string>());
  if (entry == handlers_.end()) return error("unknown command '" + command->get<std::string>() + "'");
  Handler handler = entry->second;  // a copy: the handler may register others
  try {
    nlohmann::json result = handler(request);
    if (!result.is_object()) return error("the handler answered no JSON object");
    return result;
  } catch (const std::exception& e) {
    return error(e.what());
  } catch (...) {
    return error("the command failed");
  }
}

}  // namespace hypervisor
