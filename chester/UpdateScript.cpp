// UpdateScript: reading and checking JSON update scripts (see UpdateScript.h). The checks
// here and the JSON Schema in updates/schema/ describe the same format; the schema is the
// reference for tools, these checks name the place of a problem as precisely as possible.
#include "chester/UpdateScript.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

#include "chester/JsonErrorText.h"
#include "chester/ScriptError.h"
#include "vm/compiler/Parser.h"
#include "vm/compiler/SourceLocation.h"

namespace chester {

using nlohmann::json;

namespace {

// What a field of a step must hold.
enum class FieldKind {
  Name,        // a class or global name: starts with a capital letter, letters and digits
  Selector,    // a message selector
  Source,      // a method definition
  Expression,  // Smalltalk statements (answering a value)
  Side,        // "instance" or "class"
  Format,      // "fixed", "indexable", "bytes" or "words"
  Names,       // an array of instance variable names
  Sources,     // an array of method definitions
  Migration,   // an object: field name -> {"from": oldField} | {"value": expression} | {"expression": ...}
  Text,        // any string
};

struct FieldRule {
  const char* name;
  FieldKind kind;
  bool required;
};

struct OperationRule {
  const char* op;
  std::vector<FieldRule> fields;
};

const std::vector<OperationRule>& rules() {
  static const std::vector<OperationRule> kRules = {
      {"addMethod",
       {{"class", FieldKind::Name, true}, {"side", FieldKind::Side, false}, {"source", FieldKind::Source, true}}},
      {"removeMethod",
       {{"class", FieldKind::Name, true}, {"side", FieldKind::Side, false}, {"selector", FieldKind::Selector, true}}},
      {"moveMethod",
       {{"selector", FieldKind::Selector, true},
        {"from", FieldKind::Name, true},
        {"to", FieldKind::Name, true},
        {"side", FieldKind::Side, false}}},
      {"defineClass",
       {{"name", FieldKind::Name, true},
        {"superclass", FieldKind::Name, true},
        {"instanceVariables", FieldKind::Names, false},
        {"format", FieldKind::Format, false},
        {"methods", FieldKind::Sources, false},
        {"classMethods", FieldKind::Sources, false}}},
      {"redefineClass",
       {{"class", FieldKind::Name, true},
        {"superclass", FieldKind::Name, false},
        {"instanceVariables", FieldKind::Names, false},
        {"migrate", FieldKind::Migration, false},
        {"methods", FieldKind::Sources, false}}},
      {"setSuperclass", {{"class", FieldKind::Name, true}, {"superclass", FieldKind::Name, true}}},
      {"removeClass", {{"name", FieldKind::Name, true}}},
      {"swapIdentities", {{"a", FieldKind::Expression, true}, {"b", FieldKind::Expression, true}}},
      {"rehash", {{"class", FieldKind::Name, true}}},
      {"setSpecialObject", {{"name", FieldKind::Text, true}, {"value", FieldKind::Expression, true}}},
      {"restartFrames",
       {{"selector", FieldKind::Selector, true},
        {"class", FieldKind::Name, false},
        {"process", FieldKind::Text, false}}},
      {"unwindFrames",
       {{"selector", FieldKind::Selector, true},
        {"process", FieldKind::Text, false},
        {"value", FieldKind::Expression, false}}},
      {"evaluate", {{"source", FieldKind::Expression, true}}},
  };
  return kRules;
}

// "line L, column C" of the byte at `offset` (0-based) of `text`.
std::string lineAndColumn(const std::string& text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); i++) {
    if (text[i] == '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

bool isName(const std::string& s) {
  return !s.empty() && std::isupper(static_cast<unsigned char>(s[0])) && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool isIdentifier(const std::string& s) {
  return !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_') &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool isSelector(const std::string& s) {
  if (s.empty()) return false;
  if (isIdentifier(s)) return true;  // unary
  if (s.back() == ':') {             // keywords
    size_t start = 0;
    while (start < s.size()) {
      size_t colon = s.find(':', start);
      if (colon == std::string::npos || !isIdentifier(s.substr(start, colon - start))) return false;
      start = colon + 1;
    }
    return true;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::string_view("~!@%&*-+=\\|?/<>,").find(c) != std::string_view::npos; });
}

// Parses a method definition or an expression, turning a syntax error into a ScriptError
// that names the field and the place inside the text.
void checkSmalltalk(const std::string& path, const std::string& text, bool isMethod) {
  try {
    vm::Parser parser(text, path);
    if (isMethod) {
      parser.parseMethod();
    } else {
      parser.parseDoIt("DoIt");
    }
  } catch (const vm::CompileError& e) {
    throw ScriptError(
        path + ", line " + std::to_string(e.where().line) + ", column " + std::to_string(e.where().column),
        e.message());
  }
}

const std::string& requireString(const json& v, const std::string& path) {
  if (!v.is_string()) throw ScriptError(path, "must be a string");
  return v.get_ref<const std::string&>();
}

void checkField(const FieldRule& rule, const json& v, const std::string& path) {
  switch (rule.kind) {
    case FieldKind::Name:
      if (!isName(requireString(v, path)))
        throw ScriptError(path, "'" + v.get<std::string>() + "' is not a class or global name");
      return;
    case FieldKind::Selector:
      if (!isSelector(requireString(v, path)))
        throw ScriptError(path, "'" + v.get<std::string>() + "' is not a selector");
      return;
    case FieldKind::Source:
      checkSmalltalk(path, requireString(v, path), true);
      return;
    case FieldKind::Expression:
      checkSmalltalk(path, requireString(v, path), false);
      return;
    case FieldKind::Side: {
      const std::string& s = requireString(v, path);
      if (s != "instance" && s != "class") throw ScriptError(path, "must be \"instance\" or \"class\"");
      return;
    }
    case FieldKind::Format: {
      const std::string& s = requireString(v, path);
      if (s != "fixed" && s != "indexable" && s != "bytes" && s != "words")
        throw ScriptError(path, "must be \"fixed\", \"indexable\", \"bytes\" or \"words\"");
      return;
    }
    case FieldKind::Names:
    case FieldKind::Sources: {
      if (!v.is_array()) throw ScriptError(path, "must be an array of strings");
      std::set<std::string> seen;
      for (size_t i = 0; i < v.size(); i++) {
        std::string at = path + "[" + std::to_string(i) + "]";
        const std::string& s = requireString(v[i], at);
        if (rule.kind == FieldKind::Sources) {
          checkSmalltalk(at, s, true);
        } else {
          if (!isIdentifier(s)) throw ScriptError(at, "'" + s + "' is not an instance variable name");
          if (!seen.insert(s).second) throw ScriptError(at, "'" + s + "' is named twice");
        }
      }
      return;
    }
    case FieldKind::Migration: {
      if (!v.is_object()) throw ScriptError(path, "must be an object: field name -> where its value comes from");
      for (const auto& [field, source] : v.items()) {
        std::string at = path + "." + field;
        if (!isIdentifier(field)) throw ScriptError(at, "'" + field + "' is not an instance variable name");
        if (!source.is_object() || source.size() != 1) {
          throw ScriptError(
              at, "must be one of {\"from\": oldField}, {\"value\": expression}, {\"expression\": expression}");
        }
        const std::string& kind = source.begin().key();
        const json& value = source.begin().value();
        if (kind == "from") {
          if (!isIdentifier(requireString(value, at + ".from")))
            throw ScriptError(at + ".from", "'" + value.get<std::string>() + "' is not an instance variable name");
        } else if (kind == "value" || kind == "expression") {
          checkSmalltalk(at + "." + kind, requireString(value, at + "." + kind), false);
        } else {
          throw ScriptError(at, "unknown source '" + kind + "' (expected from, value or expression)");
        }
      }
      return;
    }
    case FieldKind::Text:
      requireString(v, path);
      return;
  }
}

Step readStep(const json& v, size_t index) {
  Step step;
  step.index = index;
  std::string path = step.path();
  if (!v.is_object()) throw ScriptError(path, "a step must be an object with an \"op\"");
  auto op = v.find("op");
  if (op == v.end()) throw ScriptError(path, "has no \"op\"");
  step.op = requireString(*op, path + ".op");
  auto rule = std::find_if(rules().begin(), rules().end(), [&](const OperationRule& r) { return step.op == r.op; });
  if (rule == rules().end()) {
    std::string known;
    for (const OperationRule& r : rules()) known += (known.empty() ? "" : ", ") + std::string(r.op);
    throw ScriptError(path + ".op", "unknown operation '" + step.op + "' (known: " + known + ")");
  }
  for (const auto& item : v.items()) {
    const std::string& key = item.key();  // not a structured binding: lambdas capture it below
    const json& value = item.value();
    if (key == "op" || key == "comment") continue;
    auto field =
        std::find_if(rule->fields.begin(), rule->fields.end(), [&](const FieldRule& f) { return key == f.name; });
    if (field == rule->fields.end()) throw ScriptError(path + "." + key, "is not a field of " + step.op);
    checkField(*field, value, path + "." + key);
  }
  for (const FieldRule& f : rule->fields) {
    if (f.required && !v.contains(f.name)) throw ScriptError(path, step.op + " needs \"" + f.name + "\"");
  }
  step.fields = v;
  return step;
}

}  // namespace

ScriptForm formOf(const ScriptText& script) {
  auto endsWith = [&](const char* suffix) {
    std::string_view n(script.name), s(suffix);
    return n.size() >= s.size() && n.substr(n.size() - s.size()) == s;
  };
  if (endsWith(".json")) return ScriptForm::Json;
  if (endsWith(".som")) return ScriptForm::Smalltalk;
  auto first = std::find_if(script.text.begin(), script.text.end(),
                            [](char c) { return !std::isspace(static_cast<unsigned char>(c)); });
  return first != script.text.end() && *first == '{' ? ScriptForm::Json : ScriptForm::Smalltalk;
}

const std::vector<std::string>& stepOperations() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> n;
    for (const OperationRule& r : rules()) n.push_back(r.op);
    return n;
  }();
  return kNames;
}

JsonScript readJsonScript(const ScriptText& script) {
  json doc;
  try {
    doc = json::parse(script.text);
  } catch (const json::parse_error& e) {
    // e.byte is the 1-based offset of the character where parsing failed.
    std::string what = e.what();
    size_t cut = what.find("error: ");
    throw ScriptError(lineAndColumn(script.text, e.byte == 0 ? 0 : e.byte - 1),
                      "not valid JSON: " + (cut == std::string::npos ? what : what.substr(cut + 7)));
  } catch (const json::exception& e) {
    // A number beyond a double's range, say: the parser names the number, not where it is.
    throw ScriptError("", "not valid JSON: " + withoutJsonExceptionId(e.what()));
  }
  if (!doc.is_object()) throw ScriptError("", "an update script is a JSON object");
  JsonScript out;
  static const std::set<std::string> kTopLevel = {"espellUpdate", "description", "steps", "verify", "comment"};
  for (const auto& [key, value] : doc.items()) {
    if (!kTopLevel.count(key)) throw ScriptError(key, "is not a field of an update script");
  }
  auto version = doc.find("espellUpdate");
  if (version == doc.end()) throw ScriptError("", "has no \"espellUpdate\" (the format version, 1)");
  if (!version->is_number_integer() || version->get<int64_t>() != 1) {
    throw ScriptError("espellUpdate", "this VM reads format version 1");
  }
  if (doc.contains("description")) out.description = requireString(doc["description"], "description");
  auto steps = doc.find("steps");
  if (steps == doc.end() || !steps->is_array()) throw ScriptError("steps", "must be an array of steps");
  if (steps->empty() && !doc.contains("verify")) throw ScriptError("steps", "an update needs at least one step");
  for (size_t i = 0; i < steps->size(); i++) out.steps.push_back(readStep((*steps)[i], i));
  if (doc.contains("verify")) {
    const json& v = doc["verify"];
    if (!v.is_array()) throw ScriptError("verify", "must be an array of expressions");
    for (size_t i = 0; i < v.size(); i++) {
      std::string at = "verify[" + std::to_string(i) + "]";
      checkSmalltalk(at, requireString(v[i], at), false);
      out.verify.push_back(v[i].get<std::string>());
    }
  }
  return out;
}

}  // namespace chester
