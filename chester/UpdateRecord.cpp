// UpdateRecord: see UpdateRecord.h.
#include "chester/UpdateRecord.h"

#include <cstdio>

namespace chester {

using nlohmann::json;

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::Committed:
      return "committed";
    case Outcome::RolledBack:
      return "rolled-back";
    case Outcome::Refused:
      return "refused";
    case Outcome::TimedOut:
      return "timed-out";
  }
  return "?";
}

namespace {
Outcome outcomeFromName(const std::string& s) {
  for (Outcome o : {Outcome::Committed, Outcome::RolledBack, Outcome::Refused, Outcome::TimedOut}) {
    if (s == outcomeName(o)) return o;
  }
  return Outcome::Refused;
}
}  // namespace

json UpdateRecord::toJson() const {
  const UpdateTimings& t = timings;
  return json{{"id", id},
              {"script", script},
              {"sha256", sha256},
              {"form", form},
              {"description", description},
              {"receivedAt", receivedAt},
              {"outcome", outcomeName(outcome)},
              {"failedStep", failedStep},
              {"error", error},
              {"timings",
               {{"validate", t.validate},
                {"arm", t.arm},
                {"heldBefore", t.heldBefore},
                {"pause", t.pause},
                {"checkpoint", t.checkpoint},
                {"apply", t.apply},
                {"verify", t.verify},
                {"rollback", t.rollback},
                {"commit", t.commit},
                {"guestPause", t.guestPause},
                {"guestPauseCpu", t.guestPauseCpu},
                {"total", t.total}}},
              {"classesChanged", classesChanged},
              {"methodsChanged", methodsChanged},
              {"instancesMigrated", instancesMigrated},
              {"pagesSaved", pagesSaved},
              {"pagesSavedIntoPrepared", pagesSavedIntoPrepared},
              {"pauseFaults", pauseFaults},
              {"notArrived", notArrived}};
}

UpdateRecord UpdateRecord::fromJson(const json& j) {
  UpdateRecord r;
  r.id = j.value("id", int64_t(0));
  r.script = j.value("script", "");
  r.sha256 = j.value("sha256", "");
  r.form = j.value("form", "");
  r.description = j.value("description", "");
  r.receivedAt = j.value("receivedAt", "");
  r.outcome = outcomeFromName(j.value("outcome", ""));
  r.failedStep = j.value("failedStep", "");
  r.error = j.value("error", "");
  if (j.contains("timings")) {
    const json& m = j["timings"];
    r.timings.validate = m.value("validate", int64_t(0));
    r.timings.pause = m.value("pause", int64_t(0));
    r.timings.checkpoint = m.value("checkpoint", int64_t(0));
    r.timings.arm = m.value("arm", int64_t(0));
    r.timings.heldBefore = m.value("heldBefore", int64_t(0));
    r.timings.apply = m.value("apply", int64_t(0));
    r.timings.verify = m.value("verify", int64_t(0));
    r.timings.rollback = m.value("rollback", int64_t(0));
    r.timings.commit = m.value("commit", int64_t(0));
    r.timings.guestPause = m.value("guestPause", int64_t(0));
    r.timings.guestPauseCpu = m.value("guestPauseCpu", int64_t(0));
    r.timings.total = m.value("total", int64_t(0));
  }
  r.classesChanged = j.value("classesChanged", int64_t(0));
  r.methodsChanged = j.value("methodsChanged", int64_t(0));
  r.instancesMigrated = j.value("instancesMigrated", int64_t(0));
  r.pagesSaved = j.value("pagesSaved", int64_t(0));
  r.pagesSavedIntoPrepared = j.value("pagesSavedIntoPrepared", int64_t(0));
  r.pauseFaults = j.value("pauseFaults", int64_t(0));
  r.notArrived = j.value("notArrived", "");
  return r;
}

std::string UpdateRecord::describe() const {
  auto ms = [](int64_t micros) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f ms", double(micros) / 1000.0);
    return std::string(b);
  };
  std::string out = "update " + std::to_string(id) + " (" + script + "): " + outcomeName(outcome) + "\n";
  if (!description.empty()) out += "  " + description + "\n";
  if (!error.empty())
    out += "  error" + (failedStep.empty() ? std::string() : " in " + failedStep) + ": " + error + "\n";
  if (!notArrived.empty()) out += notArrived;
  if (outcome != Outcome::Refused) {
    out += "  guest paused " + ms(timings.guestPause) + " (" + ms(timings.guestPauseCpu) + " of it running, " +
           std::to_string(pauseFaults) + " page faults; reaching the pause " + ms(timings.pause) + ", checkpoint " +
           ms(timings.checkpoint) + ", apply " + ms(timings.apply) + ", verify " + ms(timings.verify);
    out += outcome == Outcome::RolledBack ? ", rollback " + ms(timings.rollback) : std::string();
    out += ")\n";
    out += "  before the pause, the guest waited for the engine " + ms(timings.heldBefore) +
           " at most at a time (validating " + ms(timings.validate) + ", arming and preparing " + ms(timings.arm) +
           ", the guest served between)\n";
    out += "  changed " + std::to_string(classesChanged) + " classes, " + std::to_string(methodsChanged) +
           " methods, " + std::to_string(instancesMigrated) + " instances; " + std::to_string(pagesSaved) +
           " pages saved (" + std::to_string(pagesSavedIntoPrepared) + " into copies written ahead)\n";
  }
  out += "  sha256 " + sha256 + "\n";
  return out;
}

}  // namespace chester
