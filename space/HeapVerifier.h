// HeapVerifier: walks every object of a space and checks the invariants the collectors,
// the mirrors and the hypervisor rely on — well-formed headers, valid class indexes,
// references only to object starts inside the same space, and a complete remembered set.
#pragma once

#include <string>
#include <vector>

namespace space {

class Space;

struct VerificationReport {
  std::vector<std::string> errors;  // at most kMaxErrors, each naming object and slot
  size_t objectsChecked = 0;
  size_t referencesChecked = 0;
  static constexpr size_t kMaxErrors = 50;

  bool ok() const { return errors.empty(); }
  std::string summary() const;
};

VerificationReport verifyHeap(Space& space);

}  // namespace space
