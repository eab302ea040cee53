// ConsoleSources: the console's program (hypervisor/console) and the libraries it uses
// (lib/Json, lib/Http), compiled into the binary (see vm/kernel/embed.py) in load order.
#pragma once

#include <span>

#include "vm/KernelSources.h"

namespace hypervisor {

std::span<const vm::KernelSource> consoleSources();

}  // namespace hypervisor
