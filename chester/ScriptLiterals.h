// ScriptLiterals: what a Smalltalk update script will most likely hand to the guest's
// mirror, read from the string literals of its methods before it runs. A JSON script
// says which methods it changes and what it verifies, so the engine writes the pages
// those changes touch ahead of the pause and compiles the code ahead (Updater); a
// Smalltalk script's apply: is a program, and what it does is only known by running it,
// in the pause. Its literals tell the usual case — `guest classNamed: 'Block2'`, then
// `compileAndInstall: 'memoized = ( ... )'`, and `guest evaluate: '...'` in verify: —
// so the engine prepares each method source for each class named, and each statement
// text as an evaluation. A guess that is wrong costs work before the pause and, in it,
// only the copy of the pages written ahead for it (a class's method dictionary, the send
// sites caching a selector); what the script does is the same either way.
#pragma once

#include <string>
#include <vector>

#include "vm/compiler/Ast.h"

namespace chester {

struct ScriptLiterals {
  std::vector<std::string> classNames;  // literals that are a capitalised identifier
  std::vector<std::string> methods;     // literals that parse as a method definition
  std::vector<std::string> statements;  // the other literals that parse as statements
};

// The string literals of every method of `script` (both sides, in blocks and literal
// arrays too), each once, sorted into the three kinds above; literals that are none of
// them are left out.
ScriptLiterals literalsOf(const vm::ClassNode& script);

}  // namespace chester
