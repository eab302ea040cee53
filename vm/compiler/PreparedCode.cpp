// PreparedCode: see PreparedCode.h.
#include "vm/compiler/PreparedCode.h"

#include <algorithm>

namespace vm {

void PreparedCode::add(Key key, std::unique_ptr<CodeSpec> spec) {
  if (find(key)) return;
  entries_.emplace_back(std::move(key), std::move(spec));
}

const CodeSpec* PreparedCode::find(const Key& key) const {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == key; });
  return it == entries_.end() ? nullptr : it->second.get();
}

}  // namespace vm
