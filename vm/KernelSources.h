// KernelSources: the kernel library (vm/kernel/*.som), compiled into the binary by
// vm/kernel/embed.py so that the VM needs no files besides the program's own.
#pragma once

#include <span>

namespace vm {

struct KernelSource {
  const char* name;    // class name (file name without .som)
  const char* source;  // the class file's text
};

std::span<const KernelSource> kernelSources();

}  // namespace vm
