// UpdateScript: an update as delivered — a JSON script (format version 1, schema in
// updates/schema/update-v1.schema.json, described in docs/UPDATES.md) or a Smalltalk
// script (a class file answering apply: and, optionally, verify: and description). A JSON
// script is read and checked completely here, before anything touches the guest: syntax,
// the schema (every step and field), and that every method source and expression parses.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace chester {

enum class ScriptForm { Json, Smalltalk };

// A script's text and the name it is known by (its file name, for records and errors).
struct ScriptText {
  std::string name;
  std::string text;
};

// JSON when the name ends in .json, Smalltalk when it ends in .som; otherwise JSON when
// the text's first non-blank character is '{'.
ScriptForm formOf(const ScriptText& script);

// One step of a JSON script: its operation and its (checked) fields.
struct Step {
  size_t index = 0;  // in "steps", from 0
  std::string op;
  nlohmann::json fields;
  // "steps[3]" — how errors name it.
  std::string path() const { return "steps[" + std::to_string(index) + "]"; }
};

struct JsonScript {
  int version = 1;
  std::string description;
  std::vector<Step> steps;
  std::vector<std::string> verify;  // expressions that must answer true after applying
};

// Reads and checks a JSON script; throws ScriptError naming the place of the first problem.
JsonScript readJsonScript(const ScriptText& script);

// The step operations of format version 1, in the order docs/UPDATES.md describes them.
const std::vector<std::string>& stepOperations();

}  // namespace chester
