// RuntimeImage: see RuntimeImage.h.
#include "vm/RuntimeImage.h"

#include <openssl/evp.h>

#include <cstdio>
#include <stdexcept>

#include "vm/ClassBuilder.h"
#include "vm/ClassLoader.h"
#include "vm/Interpreter.h"
#include "vm/IoPoller.h"
#include "vm/MethodCache.h"
#include "vm/Primitives.h"
#include "vm/Scheduler.h"

namespace vm {

RuntimeImageState RuntimeImage::capture(Runtime& rt) {
  if (rt.scheduler().activeProcess() != rt.nil()) {
    throw std::logic_error("an image of a runtime whose process is running");
  }
  RuntimeImageState s;
  s.mainProcess = rt.interpreter().mainProcess();
  s.programMainProcess = rt.interpreter().programMainProcess();
  int64_t now = Scheduler::nowMicros();
  Scheduler::TimerState timers = rt.scheduler().timers();
  for (const auto& [deadline, id, semaphore] : timers.timers) {
    s.timers.emplace_back(std::max<int64_t>(0, deadline - now), id, semaphore);
  }
  s.nextTimerId = timers.nextTimerId;
  for (const IoPoller::WatchState& w : rt.scheduler().io().watches()) {
    if (!w.readable.isNull()) s.ioWaiters.push_back(w.readable);
    if (!w.writable.isNull()) s.ioWaiters.push_back(w.writable);
  }
  s.retiredCode = rt.classes().retiredCode();
  s.programMicros = rt.programMicros();
  s.descriptorEpoch = rt.descriptorEpoch();
  s.classPath = rt.options().classPath;
  s.primitivesFingerprint = primitivesFingerprint(rt);
  return s;
}

std::string RuntimeImage::primitivesFingerprint(const Runtime& rt) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  const PrimitiveTable& t = rt.primitives();
  for (unsigned i = 1; i < t.size(); i++) {
    const std::string& name = t.nameAt(i);
    EVP_DigestUpdate(ctx, name.data(), name.size() + 1);  // with the terminating NUL as separator
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < len; i++) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

void RuntimeImage::relocate(RuntimeImageState& s, const space::Relocation& r) {
  s.mainProcess = r.oop(s.mainProcess);
  s.programMainProcess = r.oop(s.programMainProcess);
  for (auto& t : s.timers) std::get<2>(t) = r.oop(std::get<2>(t));
  for (space::Oop& o : s.ioWaiters) o = r.oop(o);
  for (space::Oop& o : s.retiredCode) o = r.oop(o);
}

void RuntimeImage::adopt(Runtime& rt, const RuntimeImageState& s, std::vector<std::string> arguments) {
  if (s.primitivesFingerprint != primitivesFingerprint(rt)) {
    throw std::runtime_error("the image was made by an Espell build with other primitives");
  }
  rt.refreshCaches();
  rt.globals().reattach();
  rt.methodCache().flush();
  rt.interpreter().refreshGuards();
  rt.interpreter().setMainProcess(s.mainProcess);
  rt.interpreter().setProgramMainProcess(s.programMainProcess);
  for (space::Oop code : s.retiredCode) rt.classes().adoptRetired(code);
  // Timers keep their ids (the program may cancel them) and the time they had left.
  Scheduler::TimerState timers;
  int64_t now = Scheduler::nowMicros();
  for (const auto& [left, id, semaphore] : s.timers) timers.timers.emplace_back(now + left, id, semaphore);
  timers.nextTimerId = s.nextTimerId;
  rt.scheduler().restoreTimers(timers);
  // Waiters on the old process's descriptors wake up and find their socket closed.
  for (space::Oop semaphore : s.ioWaiters) rt.scheduler().signal(semaphore);
  rt.setProgramMicros(s.programMicros);
  rt.setDescriptorEpoch(s.descriptorEpoch % ((uint32_t(1) << 30) - 1) + 1);
  rt.mutableOptions().classPath = s.classPath;
  rt.loader().setClassPath(s.classPath);
  rt.setResumeArguments(std::move(arguments));
}

}  // namespace vm
