// System primitives: globals, class loading, output, time, exit, collection.
#include <chrono>
#include <optional>

#include "space/KernelWrites.h"
#include "vm/ClassLoader.h"
#include "vm/compiler/SourceLocation.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

constexpr int64_t kMaxExitStatus = 255;

ESPELL_PRIMITIVE(sysGlobal) {
  Runtime& rt = in.runtime();
  Oop name = arg(in, argc, 0);
  if (!isSymbol(rt, name)) return kFail;
  Oop v = rt.globals().at(name);
  return answer(in, argc, v.isNull() ? rt.nil() : v);
}

ESPELL_PRIMITIVE(sysGlobalPut) {
  Runtime& rt = in.runtime();
  Oop name = arg(in, argc, 0), value = arg(in, argc, 1);
  if (!isSymbol(rt, name)) return kFail;
  Oop binding = rt.globals().binding(name);
  if (!binding.isNull() && binding.object()->isImmutable()) return kFail;  // see protectKernelBindings
  rt.globals().atPut(name, value);
  return answer(in, argc, in.argumentOf(argc, 1));
}

ESPELL_PRIMITIVE(sysHasGlobal) {
  Runtime& rt = in.runtime();
  Oop name = arg(in, argc, 0);
  if (!isSymbol(rt, name)) return kFail;
  return answerBool(in, argc, rt.globals().isDefined(name));
}

ESPELL_PRIMITIVE(sysLoad) {
  Runtime& rt = in.runtime();
  Oop name = arg(in, argc, 0);
  if (!isString(rt, name)) return kFail;
  try {
    Oop cls = rt.loader().loadClass(std::string(bytesOf(name)));
    return answer(in, argc, cls.isNull() ? rt.nil() : cls);
  } catch (const CompileError& e) {
    rt.endProgram({ProgramOutcome::Kind::CompileError, 0, e.what()});
    return PrimitiveResult::ControlTransferred;
  }
}

ESPELL_PRIMITIVE(sysLoadFile) {
  Runtime& rt = in.runtime();
  Oop name = arg(in, argc, 0);
  if (!isString(rt, name)) return kFail;
  std::optional<std::string> text = readFile(std::string(bytesOf(name)));
  if (!text) return answer(in, argc, rt.nil());
  return answerString(in, argc, *text);
}

// exit: status — a process exit status, an Integer from 0 to 255 (the byte a parent sees);
// anything else fails and System>>exit: signals an error instead of exiting.
ESPELL_PRIMITIVE(sysExit) {
  Runtime& rt = in.runtime();
  Oop code = arg(in, argc, 0);
  if (!code.isSmallInteger() || code.smallInteger() < 0 || code.smallInteger() > kMaxExitStatus) return kFail;
  rt.requestExit(int(code.smallInteger()));
  return PrimitiveResult::ControlTransferred;
}

// Writes a heap string's bytes. stdio may hand a long one to write(2) straight from the
// heap, and the kernel does not take faults for us (space/KernelWrites.h).
void writeHeapBytes(std::string_view bytes, std::FILE* to) {
  space::beforeKernelRead(bytes.data(), bytes.size());
  std::fwrite(bytes.data(), 1, bytes.size(), to);
}

ESPELL_PRIMITIVE(sysPrintString) {
  Runtime& rt = in.runtime();
  Oop s = arg(in, argc, 0);
  if (!isString(rt, s)) return kFail;
  writeHeapBytes(bytesOf(s), rt.options().out);
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(sysPrintNewline) {
  Runtime& rt = in.runtime();
  std::fputc('\n', rt.options().out);
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(sysErrorPrint) {
  Runtime& rt = in.runtime();
  Oop s = arg(in, argc, 0);
  if (!isString(rt, s)) return kFail;
  std::fflush(rt.options().out);
  writeHeapBytes(bytesOf(s), rt.options().err);
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(sysErrorPrintln) {
  Runtime& rt = in.runtime();
  Oop s = arg(in, argc, 0);
  if (!isString(rt, s)) return kFail;
  std::fflush(rt.options().out);
  writeHeapBytes(bytesOf(s), rt.options().err);
  std::fputc('\n', rt.options().err);
  return answer(in, argc, receiver(in, argc));
}

// Exception>>unhandled: the text of an error nobody handled, kept for Runtime::evaluate.
ESPELL_PRIMITIVE(sysNoteUnhandledError) {
  Runtime& rt = in.runtime();
  Oop s = arg(in, argc, 0);
  if (!isString(rt, s)) return kFail;
  rt.noteUnhandledError(std::string(bytesOf(s)));
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(sysFlush) {
  std::fflush(in.runtime().options().out);
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(sysPrintStackTrace) {
  Runtime& rt = in.runtime();
  std::fflush(rt.options().out);
  std::fputs(in.stackTrace(100).c_str(), rt.options().err);
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(sysStackTrace) {
  return answerString(in, argc, in.stackTrace(100));
}

ESPELL_PRIMITIVE(sysTime) {
  return answerInt(in, argc, in.runtime().programMicros() / 1000);
}
ESPELL_PRIMITIVE(sysTicks) {
  return answerInt(in, argc, in.runtime().programMicros());
}
// The command-line arguments of a program resumed from an image (empty otherwise).
ESPELL_PRIMITIVE(sysResumeArguments) {
  Runtime& rt = in.runtime();
  const auto& args = rt.resumeArguments();
  space::LocalRoot array(rt.space().localRoots(), newArray(rt, args.size()));
  for (size_t i = 0; i < args.size(); i++) {
    Oop s = newString(rt, args[i]);
    rt.space().storePointer(array.get(), i, s);
  }
  return answer(in, argc, array.get());
}

ESPELL_PRIMITIVE(sysEpochMillis) {
  return answerInt(
      in, argc,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

ESPELL_PRIMITIVE(sysFullGC) {
  in.space().collectGarbage();
  return answer(in, argc, in.runtime().trueObject());
}

// releaseMemory: for a program with nothing to do (see Space::releaseMemoryWhileIdle):
// answers the bytes of heap range given back to the system, 0 when nothing was allocated
// since the last call.
ESPELL_PRIMITIVE(sysReleaseMemory) {
  return answerInt(in, argc, int64_t(in.space().releaseMemoryWhileIdle()));
}

// releaseMemorySlice: the same in slices of at most a marking step (see
// Space::releaseMemoryWhileIdleSlice): answers nil while more slices are to come, then the
// bytes given back.
ESPELL_PRIMITIVE(sysReleaseMemorySlice) {
  std::optional<size_t> released = in.space().releaseMemoryWhileIdleSlice();
  if (!released) return answer(in, argc, in.runtime().nil());
  return answerInt(in, argc, int64_t(*released));
}

ESPELL_PRIMITIVE(sysGcStats) {
  Runtime& rt = in.runtime();
  const space::GcStats& s = in.space().stats();
  Oop a = newArray(rt, 3);
  a.object()->slots()[0] = Oop::fromSmallInteger(int64_t(s.scavenges + s.fullCollections));
  a.object()->slots()[1] = Oop::fromSmallInteger(int64_t((s.scavengeNanos + s.fullCollectionNanos) / 1000000));
  a.object()->slots()[2] =
      Oop::fromSmallInteger(int64_t(s.bytesAllocatedYoung + s.bytesAllocatedOld + in.space().nursery().eden.used()));
  return answer(in, argc, a);
}

}  // namespace
}  // namespace prim

void registerSystemPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("System>>global:", sysGlobal);
  t.add("System>>global:put:", sysGlobalPut);
  t.add("System>>hasGlobal:", sysHasGlobal);
  t.add("System>>load:", sysLoad);
  t.add("System>>loadFile:", sysLoadFile);
  t.add("System>>exit:", sysExit);
  t.add("System>>printString:", sysPrintString);
  t.add("System>>printNewline", sysPrintNewline);
  t.add("System>>errorPrint:", sysErrorPrint);
  t.add("System>>errorPrintln:", sysErrorPrintln);
  t.add("System>>flush", sysFlush);
  t.add("System>>printStackTrace", sysPrintStackTrace);
  t.add("System>>stackTrace", sysStackTrace);
  t.add("System>>noteUnhandledError:", sysNoteUnhandledError);
  t.add("System>>time", sysTime);
  t.add("System>>ticks", sysTicks);
  t.add("System>>resumeArguments", sysResumeArguments);
  t.add("System>>epochMilliseconds", sysEpochMillis);
  t.add("System>>fullGC", sysFullGC);
  t.add("System>>gcStats", sysGcStats);
  t.add("System>>releaseMemory", sysReleaseMemory);
  t.add("System>>releaseMemorySlice", sysReleaseMemorySlice);
}

}  // namespace vm
