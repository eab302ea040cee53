// ExitStatus: see ExitStatus.h.
#include "hypervisor/ExitStatus.h"

#include <filesystem>

namespace hypervisor {

int reportOutcome(const vm::ProgramOutcome& outcome, const std::vector<std::string>& classPath, std::FILE* err) {
  using Kind = vm::ProgramOutcome::Kind;
  switch (outcome.kind) {
    case Kind::Finished:
      return outcome.status;
    case Kind::UnhandledError:
      return code(ExitStatus::ProgramFailed);  // the interpreter printed the error and its trace
    case Kind::CompileError:
      std::fprintf(err, "%s\n", outcome.detail.c_str());
      return code(ExitStatus::CompileError);
    case Kind::NotFound: {
      std::string path;
      for (const std::string& d : classPath) path += " " + d;
      std::fprintf(err, "espell: cannot find class '%s' (class path:%s)\n", outcome.detail.c_str(), path.c_str());
      return code(ExitStatus::NoProgram);
    }
    case Kind::KernelClassName:
      std::fprintf(err, "espell: %s: %s is the name of a kernel class; give the program's class another name\n",
                   outcome.detail.c_str(), std::filesystem::path(outcome.detail).stem().c_str());
      return code(ExitStatus::CompileError);
    case Kind::NoEntryPoint:
      std::fprintf(err, "espell: %s understands neither #run: nor #run\n", outcome.detail.c_str());
      return code(ExitStatus::ProgramFailed);
    case Kind::Deadlock:
      std::fprintf(err, "espell: deadlock: every process is waiting and nothing can wake one\n");
      return code(ExitStatus::ProgramFailed);
  }
  return code(ExitStatus::InternalError);
}

}  // namespace hypervisor
