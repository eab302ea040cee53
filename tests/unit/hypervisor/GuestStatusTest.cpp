// GuestStatus: the `status` answer of a running guest — state, program, heap figures,
// the processes read in a short pause (states as the guest had them), the updates count
// wired by the update engine, and a guest that cannot pause in time, which runs on.
#include "hypervisor/GuestStatus.h"

#include <chrono>
#include <string>

#include "tests/unit/hypervisor/GuestFixture.h"

using hypervisor::GuestStatus;
using hypervisor::test::GuestFixture;
using nlohmann::json;

namespace {

const char* kServing = R"(
Serving = (
    run = (
        | worker |
        worker := [ self compute ] newProcess.
        worker name: 'worker'.
        worker resume.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 5) wait ] )
    compute = ( | n | n := 0. [ (system global: #Stop) isNil ] whileTrue: [ n := n + 1. Chester updatePoint ] )
)
)";

json processNamed(const json& processes, const std::string& name) {
  for (const json& p : processes) {
    if (p["name"] == name) return p;
  }
  FAIL("no process named " << name << " in " << processes.dump());
  return {};
}

void stop(GuestFixture& g) {
  g.pause();
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

}  // namespace

TEST_CASE("status: state, program, heap figures, processes and the updates count of a running guest") {
  GuestFixture g({{"Serving", kServing}});
  GuestStatus status(*g.vm, "Serving", {"--port", "0"});
  g.vm->startGuest("Serving", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  json answer = status.answer();
  REQUIRE(answer["ok"] == true);
  const json& s = answer["status"];
  CHECK(s["state"] == "running");
  CHECK(s["program"] == "Serving");
  CHECK(s["arguments"] == json{"--port", "0"});
  CHECK(s["uptimeSeconds"].get<double>() > 0.0);
  CHECK(s["pid"] == ::getpid());
  CHECK(s["heap"]["oldSpaceCommittedBytes"].get<int64_t>() > 0);
  CHECK(s["heap"]["edenBytes"].get<int64_t>() > 0);
  CHECK(s["heap"].contains("liveBytesAtLastFullCollection"));
  CHECK(s["heap"].contains("scavenges"));
  CHECK(s["heap"].contains("fullCollections"));
  CHECK(s["heap"]["maxFullCollectionMicros"].is_number());
  CHECK(!s.contains("processesUnavailable"));
  // The worker computes: parked only for this report, so "runnable"; the main process
  // waits on its Delay.
  json worker = processNamed(s["processes"], "worker");
  CHECK(worker["state"] == "runnable");
  CHECK(worker["priority"] == 40);
  CHECK(s["updatesApplied"] == 0);
  // The guest was resumed after the report.
  CHECK(!g.vm->guestPaused());

  int64_t applied = 3;
  status.setUpdatesApplied([&] { return applied; });
  CHECK(status.answer()["status"]["updatesApplied"] == 3);

  // While somebody else holds a pause, the status says so and leaves it held.
  g.pause();
  json paused = status.answer()["status"];
  CHECK(paused["state"] == "paused");
  CHECK(processNamed(paused["processes"], "worker")["state"] == "paused");
  CHECK(g.vm->guestPaused());
  g.vm->resumeGuest();
  stop(g);
  CHECK(status.answer()["status"]["state"] == "finished");
}

TEST_CASE("status: a guest that does not reach an update point in time runs on; the status says who did not") {
  GuestFixture g({{"Spinner", R"(
Spinner = (
    run = (
        | p |
        p := [ [ (system global: #Stop) isNil ] whileTrue: [ ] ] newProcess.
        p name: 'spinner'.
        p resume.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 5) wait ] )
)
)"}});
  GuestStatus status(*g.vm, "Spinner", {});
  g.vm->startGuest("Spinner", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  auto start = std::chrono::steady_clock::now();
  json s = status.answer()["status"];
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK(s["processes"].is_null());
  std::string why = s["processesUnavailable"];
  CHECK(why.find("did not pause within 100 ms") != std::string::npos);
  CHECK(why.find("spinner") != std::string::npos);
  CHECK(s["heap"].is_object());
  CHECK(!g.vm->guestPaused());
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  // Stop it from the host: the spinner never parks, so no evaluation; an exit instead.
  g.vm->guest().runtime().requestExit(0);
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}
