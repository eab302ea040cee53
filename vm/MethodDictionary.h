// MethodDictionary: selector -> method tables of classes (heap objects, see
// ObjectLayouts.h): open addressing on symbol identity hashes, at most half full.
#pragma once

#include "space/Space.h"
#include "vm/ObjectLayouts.h"

namespace vm {

class Runtime;

namespace method_dictionary {

space::Oop create(Runtime& rt, size_t capacity);
// The method for `selector`, or the null oop. Never allocates.
space::Oop lookup(space::Space& space, space::Oop dict, space::Oop selector);
// Adds or replaces; answers the dictionary to use from now on (a larger copy when full).
space::Oop atPut(Runtime& rt, space::Oop dict, space::Oop selector, space::Oop method);
// Removes `selector`; answers whether it was present.
bool remove(Runtime& rt, space::Oop dict, space::Oop selector);
size_t size(space::Oop dict);
// Calls f(selector, method) for every entry (inline: the cache invalidation of an update
// walks every dictionary of the space).
template <typename F>
void forEach(space::Space& space, space::Oop dict, F&& f) {
  if (dict == space.nil()) return;
  space::HeapObject* d = dict.object();
  size_t pairs = (d->slotCount() - method_dictionary_slot::kFirstPair) / 2;
  for (size_t i = 0; i < pairs; i++) {
    space::Oop key = d->slot(method_dictionary_slot::kFirstPair + 2 * i);
    if (key != space.nil()) f(key, d->slot(method_dictionary_slot::kFirstPair + 2 * i + 1));
  }
}

}  // namespace method_dictionary

// The method `selector` finds in `cls` or the nearest of its superclasses, or the null oop:
// the one lookup along the superclass chain (sends, super sends, the MOP, the launcher).
// Never allocates.
space::Oop lookupSelector(Runtime& rt, space::Oop cls, space::Oop selector);

}  // namespace vm
