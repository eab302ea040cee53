// JsonErrorText: the text of an nlohmann::json error for a message to a user, shared by
// the readers of JSON that users write (update scripts, control requests).
#pragma once

#include <string>
#include <string_view>

namespace chester {

// nlohmann's message without its "[json.exception.parse_error.101] " prefix: the id names
// the library's exception, not what is wrong with the text.
inline std::string withoutJsonExceptionId(const char* what) {
  std::string_view text(what);
  size_t end = text.starts_with("[json.exception.") ? text.find("] ") : std::string_view::npos;
  return std::string(end == std::string_view::npos ? text : text.substr(end + 2));
}

}  // namespace chester
