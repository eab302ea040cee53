// Inlining: the arity rules for each open-coded selector.
#include "vm/compiler/Inlining.h"

namespace vm {

namespace {
const BlockNode* asBlock(const Node* n) {
  return n && n->kind == NodeKind::Block ? static_cast<const BlockNode*>(n) : nullptr;
}
bool isBlockWithParams(const Node* n, size_t params) {
  const BlockNode* b = asBlock(n);
  return b && b->parameters.size() == params;
}
bool isNumberLiteral(const Node* n) {
  if (!n || n->kind != NodeKind::Literal) return false;
  auto k = static_cast<const LiteralNode*>(n)->value.kind;
  return k == LiteralValue::Kind::Integer || k == LiteralValue::Kind::Double;
}
}  // namespace

InlineKind classifyInline(const SendNode& send) {
  const std::string& s = send.selector;
  const auto& a = send.arguments;
  const Node* r = send.receiver.get();
  if (!r) return InlineKind::None;  // cascade parts are never inlined
  if (s == "ifTrue:" && isBlockWithParams(a[0].get(), 0)) return InlineKind::IfTrue;
  if (s == "ifFalse:" && isBlockWithParams(a[0].get(), 0)) return InlineKind::IfFalse;
  if (s == "ifTrue:ifFalse:" && isBlockWithParams(a[0].get(), 0) && isBlockWithParams(a[1].get(), 0)) {
    return InlineKind::IfTrueIfFalse;
  }
  if (s == "ifFalse:ifTrue:" && isBlockWithParams(a[0].get(), 0) && isBlockWithParams(a[1].get(), 0)) {
    return InlineKind::IfFalseIfTrue;
  }
  // "a && [b]" is "a and: [b]" for Booleans, as in SOM's True and False; only a block
  // literal argument is inlined ("a && b" with b a Boolean stays a send).
  if ((s == "and:" || s == "&&") && isBlockWithParams(a[0].get(), 0)) return InlineKind::And;
  if ((s == "or:" || s == "||") && isBlockWithParams(a[0].get(), 0)) return InlineKind::Or;
  if (s == "whileTrue:" && isBlockWithParams(r, 0) && isBlockWithParams(a[0].get(), 0)) return InlineKind::WhileTrue;
  if (s == "whileFalse:" && isBlockWithParams(r, 0) && isBlockWithParams(a[0].get(), 0)) return InlineKind::WhileFalse;
  if (s == "whileTrue" && isBlockWithParams(r, 0)) return InlineKind::WhileTrueUnary;
  if (s == "whileFalse" && isBlockWithParams(r, 0)) return InlineKind::WhileFalseUnary;
  if (s == "repeat" && isBlockWithParams(r, 0)) return InlineKind::Repeat;
  if (s == "to:do:" && isBlockWithParams(a[1].get(), 1)) return InlineKind::ToDo;
  if (s == "downTo:do:" && isBlockWithParams(a[1].get(), 1)) return InlineKind::DownToDo;
  if (s == "to:by:do:" && isNumberLiteral(a[1].get()) && isBlockWithParams(a[2].get(), 1)) return InlineKind::ToByDo;
  if (s == "downTo:by:do:" && isNumberLiteral(a[1].get()) && isBlockWithParams(a[2].get(), 1)) {
    return InlineKind::DownToByDo;
  }
  if (s == "timesRepeat:" && isBlockWithParams(a[0].get(), 0)) return InlineKind::TimesRepeat;
  if (s == "ifNil:" && isBlockWithParams(a[0].get(), 0)) return InlineKind::IfNil;
  auto notNilBlock = [](const Node* n) { return isBlockWithParams(n, 0) || isBlockWithParams(n, 1); };
  if (s == "ifNotNil:" && notNilBlock(a[0].get())) return InlineKind::IfNotNil;
  if (s == "ifNil:ifNotNil:" && isBlockWithParams(a[0].get(), 0) && notNilBlock(a[1].get())) {
    return InlineKind::IfNilIfNotNil;
  }
  if (s == "ifNotNil:ifNil:" && notNilBlock(a[0].get()) && isBlockWithParams(a[1].get(), 0)) {
    return InlineKind::IfNotNilIfNil;
  }
  return InlineKind::None;
}

bool receiverIsInlinedBlock(InlineKind k) {
  return k == InlineKind::WhileTrue || k == InlineKind::WhileFalse || k == InlineKind::WhileTrueUnary ||
         k == InlineKind::WhileFalseUnary || k == InlineKind::Repeat;
}

bool argumentIsInlinedBlock(InlineKind k, size_t i) {
  switch (k) {
    case InlineKind::None:
      return false;
    case InlineKind::ToDo:
    case InlineKind::DownToDo:
      return i == 1;
    case InlineKind::ToByDo:
    case InlineKind::DownToByDo:
      return i == 2;
    case InlineKind::WhileTrueUnary:
    case InlineKind::WhileFalseUnary:
    case InlineKind::Repeat:
      return false;
    default:
      return true;  // every argument of the remaining kinds is a block
  }
}

bool isLoop(InlineKind k) {
  switch (k) {
    case InlineKind::WhileTrue:
    case InlineKind::WhileFalse:
    case InlineKind::WhileTrueUnary:
    case InlineKind::WhileFalseUnary:
    case InlineKind::Repeat:
    case InlineKind::ToDo:
    case InlineKind::ToByDo:
    case InlineKind::DownToDo:
    case InlineKind::DownToByDo:
    case InlineKind::TimesRepeat:
      return true;
    default:
      return false;
  }
}

}  // namespace vm
