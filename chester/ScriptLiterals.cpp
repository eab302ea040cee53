// ScriptLiterals: see ScriptLiterals.h.
#include "chester/ScriptLiterals.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "vm/compiler/Parser.h"
#include "vm/compiler/SourceLocation.h"

namespace chester {

namespace {

void collectFrom(const vm::LiteralValue& v, std::set<std::string>& out) {
  if (v.kind == vm::LiteralValue::Kind::String) out.insert(v.text);
  for (const vm::LiteralValue& e : v.elements) collectFrom(e, out);
}

// Every string literal under `statements`, walked with a stack of its own: receiver
// chains may be longer than the C++ stack would allow recursion for.
void collect(const std::vector<vm::NodePtr>& statements, std::set<std::string>& out) {
  std::vector<const vm::Node*> pending;
  for (const vm::NodePtr& s : statements) pending.push_back(s.get());
  while (!pending.empty()) {
    const vm::Node* n = pending.back();
    pending.pop_back();
    if (!n) continue;
    switch (n->kind) {
      case vm::NodeKind::Literal:
        collectFrom(static_cast<const vm::LiteralNode*>(n)->value, out);
        break;
      case vm::NodeKind::Variable:
        break;
      case vm::NodeKind::Assignment:
        pending.push_back(static_cast<const vm::AssignmentNode*>(n)->value.get());
        break;
      case vm::NodeKind::Send: {
        auto* send = static_cast<const vm::SendNode*>(n);
        pending.push_back(send->receiver.get());
        for (const vm::NodePtr& a : send->arguments) pending.push_back(a.get());
        break;
      }
      case vm::NodeKind::Cascade: {
        auto* cascade = static_cast<const vm::CascadeNode*>(n);
        pending.push_back(cascade->receiver.get());
        for (const auto& m : cascade->messages) pending.push_back(m.get());
        break;
      }
      case vm::NodeKind::Block:
        for (const vm::NodePtr& s : static_cast<const vm::BlockNode*>(n)->statements) pending.push_back(s.get());
        break;
      case vm::NodeKind::Return:
        pending.push_back(static_cast<const vm::ReturnNode*>(n)->value.get());
        break;
      case vm::NodeKind::BraceArray:
        for (const vm::NodePtr& e : static_cast<const vm::BraceArrayNode*>(n)->elements) pending.push_back(e.get());
        break;
    }
  }
}

bool isClassName(const std::string& s) {
  return !s.empty() && std::isupper(static_cast<unsigned char>(s[0])) && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool parses(const std::string& text, bool asMethod) {
  try {
    vm::Parser parser(text, "<literal>");
    if (asMethod) {
      parser.parseMethod();
    } else {
      parser.parseDoIt("DoIt");
    }
    return true;
  } catch (const vm::CompileError&) {
    return false;
  }
}

}  // namespace

ScriptLiterals literalsOf(const vm::ClassNode& script) {
  std::set<std::string> strings;
  for (const auto* methods : {&script.instanceMethods, &script.classMethods}) {
    for (const auto& m : *methods) collect(m->statements, strings);
  }
  ScriptLiterals out;
  for (const std::string& s : strings) {
    if (isClassName(s)) {
      out.classNames.push_back(s);
    } else if (parses(s, true)) {
      out.methods.push_back(s);
    } else if (parses(s, false)) {
      out.statements.push_back(s);
    }
  }
  return out;
}

}  // namespace chester
