// MirrorSources: the mirror classes of mop/smalltalk, compiled into the binary (see
// vm/kernel/embed.py), in the order they are loaded into the hypervisor space.
#pragma once

#include <span>

#include "vm/KernelSources.h"

namespace mop {

std::span<const vm::KernelSource> mirrorSources();

}  // namespace mop
