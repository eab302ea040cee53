// StepApplier: carries out the steps of a JSON update script (UpdateScript.h) on a paused
// guest through its mirror (mop::SpaceMirror), in the order given. A step that cannot be
// carried out throws (MirrorError, StepError, a guest evaluation's std::runtime_error) and
// the engine rolls the whole update back: no step undoes itself.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "chester/GuestHost.h"
#include "chester/UpdateScript.h"

namespace chester {

// A step that is well-formed but does not fit the guest (no frame to restart, a class
// with subclasses whose shape would change, a verify that does not answer true).
class StepError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class StepApplier {
 public:
  explicit StepApplier(GuestHost& host) : host_(host), guest_(host.guestMirror()) {}
  void apply(const Step& step);
  // Evaluates a verify expression in the guest; throws StepError unless it answers true.
  void verify(const std::string& expression);
  // Evaluates the verify expressions in order, stopping at the first that does not answer
  // true (it throws as verify does), in one guest evaluation: one compilation and one
  // process instead of one each. `where` names the expression that failed
  // ("verify[2]"): the evaluation records in the guest how far it got.
  void verifyAll(const std::vector<std::string>& expressions, std::string& where);
  // Parses and generates verifyAll's evaluation of `expressions` now, ahead of the pause
  // (vm::PreparedCode): reads the guest, allocates nothing in it.
  static void prepareVerify(vm::Runtime& guest, const std::vector<std::string>& expressions);

 private:
  mop::Ref classNamed(const std::string& name) const { return guest_.classNamed(name); }
  mop::Ref sideOf(const Step& step, const mop::Ref& cls) const;
  mop::Ref evaluate(const std::string& expression);
  void addMethod(const Step& step);
  void removeMethod(const Step& step);
  void moveMethod(const Step& step);
  void defineClass(const Step& step);
  void redefineClass(const Step& step);
  void swapIdentities(const Step& step);
  void rehash(const Step& step);
  void setSpecialObject(const Step& step);
  void restartFrames(const Step& step);
  void unwindFrames(const Step& step);
  // Copies every method of `from` (both sides) into `to`, compiled for `to`.
  void copyMethods(const mop::Ref& from, const mop::Ref& to);
  // Sends `selector` (unary) to every element of a guest Array, in the guest.
  void sendToEach(const mop::Ref& array, const std::string& selector);

  GuestHost& host_;
  mop::SpaceMirror& guest_;
};

}  // namespace chester
