// ClassBuilder: class/metaclass pairs, CodeSpec -> CompiledMethod objects, installation and
// precise cache invalidation.
#include "vm/ClassBuilder.h"

#include "vm/ClassLoader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

#include "vm/Interpreter.h"
#include "vm/LargeInteger.h"
#include "vm/MethodCache.h"
#include "vm/MethodDictionary.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/Primitives.h"
#include "vm/Runtime.h"
#include "vm/compiler/CodeGenerator.h"
#include "vm/compiler/Parser.h"
#include "vm/compiler/PreparedCode.h"

namespace vm {

using space::HeapObject;
using space::LocalRoot;
using space::Tenure;

namespace {
Oop symbolArray(Runtime& rt, const std::vector<std::string>& names) {
  space::Space& sp = rt.space();
  LocalRoot arr(sp.localRoots(), newArray(rt, names.size(), Tenure::Old));
  for (size_t i = 0; i < names.size(); i++) {
    Oop sym = rt.symbol(names[i]);
    sp.storePointer(arr.get(), i, sym);
  }
  return arr.get();
}

space::Format instanceFormatFor(space::Format superFormat, size_t fieldCount) {
  using space::Format;
  switch (superFormat) {
    case Format::Indexable:
    case Format::FixedIndexable:
      return fieldCount > 0 ? Format::FixedIndexable : Format::Indexable;
    case Format::Empty:
    case Format::Fixed:
      return Format::Fixed;
    default:
      return superFormat;
  }
}
}  // namespace

Oop ClassBuilder::metaclassOf(Oop cls) const {
  return rt_.classOf(cls);
}

std::string ClassBuilder::nameOf(Oop cls) const {
  return className(rt_, cls);
}

Oop ClassBuilder::createClass(std::string_view name, Oop superclass, const std::vector<std::string>& instanceVariables,
                              const std::vector<std::string>& classVariables) {
  space::Format superFormat = space::Format::Fixed;
  if (superclass != rt_.nil()) {
    int64_t spec = superclass.object()->slot(class_slot::kInstanceSpec).smallInteger();
    superFormat = space::Format(InstanceSpec::format(spec));
    if (!space::formatHasPointers(superFormat) && !instanceVariables.empty()) {
      throw std::invalid_argument("class " + std::string(name) + ": instances of " + className(rt_, superclass) +
                                  " hold raw data and cannot have instance variables");
    }
  }
  size_t inherited = superclass == rt_.nil() ? 0 : instanceVariableNames(rt_, superclass).size();
  return createClassWithFormat(name, superclass, instanceVariables,
                               instanceFormatFor(superFormat, inherited + instanceVariables.size()), classVariables);
}

Oop ClassBuilder::createClassWithFormat(std::string_view name, Oop superclass,
                                        const std::vector<std::string>& instanceVariables, space::Format format,
                                        const std::vector<std::string>& classVariables) {
  space::Space& sp = rt_.space();
  LocalRoot super(sp.localRoots(), superclass);
  std::vector<std::string> fields =
      superclass == rt_.nil() ? std::vector<std::string>{} : instanceVariableNames(rt_, superclass);
  fields.insert(fields.end(), instanceVariables.begin(), instanceVariables.end());

  // The class side: Class's own fields, inherited class-side fields, then these.
  Oop superMeta = superclass == rt_.nil() ? rt_.special(special::kClassClass) : metaclassOf(superclass);
  LocalRoot superMetaRoot(sp.localRoots(), superMeta);
  std::vector<std::string> classFields = instanceVariableNames(rt_, superMeta);
  classFields.insert(classFields.end(), classVariables.begin(), classVariables.end());

  LocalRoot meta(sp.localRoots(),
                 sp.allocate(rt_.known.metaclass, space::Format::Fixed, class_slot::kCount, Tenure::Old));
  space::ClassIndex metaIndex = sp.classTable().registerClass(meta.get());
  LocalRoot cls(sp.localRoots(), sp.allocate(metaIndex, space::Format::Fixed, classFields.size(), Tenure::Old));
  sp.classTable().registerClass(cls.get());

  Oop metaFields = symbolArray(rt_, classFields);
  sp.storePointer(meta.get(), class_slot::kInstanceVariables, metaFields);
  sp.storePointer(meta.get(), class_slot::kSuperclass, superMetaRoot.get());
  // A class is made by its definition and the VM reads its first fields (ObjectLayouts.h).
  meta.get().object()->slots()[class_slot::kInstanceSpec] = Oop::fromSmallInteger(InstanceSpec::pack(
      uint8_t(space::Format::Fixed), classFields.size(), VmMaintained{true, unsigned(class_slot::kCount)}));
  sp.storePointer(meta.get(), class_slot::kThisClassOrOrganization, cls.get());

  Oop instFields = symbolArray(rt_, fields);
  sp.storePointer(cls.get(), class_slot::kInstanceVariables, instFields);
  sp.storePointer(cls.get(), class_slot::kSuperclass, super.get());
  // Instances of a subclass keep what the VM maintains in the superclass's instances.
  VmMaintained vm =
      super.get() == rt_.nil()
          ? VmMaintained{}
          : InstanceSpec::maintained(super.get().object()->slot(class_slot::kInstanceSpec).smallInteger());
  cls.get().object()->slots()[class_slot::kInstanceSpec] =
      Oop::fromSmallInteger(InstanceSpec::pack(uint8_t(format), fields.size(), vm));
  Oop nameSym = rt_.symbol(name);
  sp.storePointer(cls.get(), class_slot::kName, nameSym);
  return cls.get();
}

void ClassBuilder::installGlobal(Oop cls) {
  space::Space& sp = rt_.space();
  LocalRoot c(sp.localRoots(), cls);
  rt_.globals().atPut(c.get().object()->slot(class_slot::kName), c.get());
}

Oop ClassBuilder::defineClass(ClassNode& node) {
  space::Space& sp = rt_.space();
  Oop superclass;
  if (node.superclassName.empty()) {
    superclass = rt_.special(special::kClassObject);
  } else if (node.superclassName == "nil") {
    superclass = rt_.nil();
  } else {
    Oop sym = rt_.symbol(node.superclassName);
    superclass = rt_.globals().at(sym);
    if (superclass.isNull()) superclass = rt_.loader().loadClass(node.superclassName);
    if (superclass.isNull() || !isClass(rt_, superclass)) {
      throw CompileError(node.fileName, node.where,
                         "superclass '" + node.superclassName + "' of " + node.name + " not found");
    }
  }
  LocalRoot super(sp.localRoots(), superclass);
  Oop existing = rt_.globals().at(rt_.symbol(node.name));
  LocalRoot cls(sp.localRoots(), Oop());
  bool fresh = true;
  if (rt_.isBootstrapping() && !existing.isNull() && isClass(rt_, existing) &&
      existing.object()->slot(class_slot::kSuperclass) != super.get() && super.get() != rt_.nil() &&
      instanceVariableNames(rt_, existing.object()->slot(class_slot::kSuperclass)) ==
          instanceVariableNames(rt_, super.get())) {
    // A class the VM created is placed under a kernel superclass with the same fields
    // (e.g. Array under SequenceableCollection): re-link it, its layout is unchanged.
    sp.storePointer(existing, class_slot::kSuperclass, super.get());
    sp.storePointer(metaclassOf(existing), class_slot::kSuperclass, metaclassOf(super.get()));
  }
  if (!existing.isNull() && isClass(rt_, existing) && existing.object()->slot(class_slot::kSuperclass) == super.get()) {
    // Reuse a class with the same shape (kernel classes the bootstrap created).
    std::vector<std::string> all = instanceVariableNames(rt_, existing);
    std::vector<std::string> inherited =
        super.get() == rt_.nil() ? std::vector<std::string>{} : instanceVariableNames(rt_, super.get());
    std::vector<std::string> own(all.begin() + long(inherited.size()), all.end());
    std::vector<std::string> metaAll = instanceVariableNames(rt_, metaclassOf(existing));
    std::vector<std::string> metaInherited =
        instanceVariableNames(rt_, metaclassOf(existing).object()->slot(class_slot::kSuperclass));
    std::vector<std::string> metaOwn(metaAll.begin() + long(metaInherited.size()), metaAll.end());
    if (own == node.instanceFields && metaOwn == node.classFields) {
      cls.set(existing);
      fresh = false;
    }
  }
  if (cls.get().isNull()) {
    try {
      cls.set(createClass(node.name, super.get(), node.instanceFields, node.classFields));
    } catch (const std::invalid_argument& e) {
      throw CompileError(node.fileName, node.where, e.what());
    }
  }
  // A class defined again has its methods installed one by one; their invalidations are
  // gathered into one pass over the sites that send their selectors, made also when a
  // method fails to compile. The send-site index that pass reads is built the first time
  // (a pass without it reads every method of the space, as building it does) and kept:
  // a space whose classes are defined again (the hypervisor's, loading update scripts)
  // pays the whole walk once.
  if (!fresh) prepareForUpdate();
  struct Batch {
    ClassBuilder& classes;
    bool opened;
    ~Batch() {
      if (opened) classes.endBatch();
    }
  } batch{*this, !fresh && !batching_};
  if (batch.opened) beginBatch();
  for (auto& m : node.instanceMethods) {
    Oop method = compileMethod(cls.get(), *m, node.fileName);
    if (fresh) {
      Oop dict = cls.get().object()->slot(class_slot::kMethodDictionary);
      Oop selector = method.object()->slot(code_slot::kSelector);
      Oop updated = method_dictionary::atPut(rt_, dict, selector, method);
      sp.storePointer(cls.get(), class_slot::kMethodDictionary, updated);
    } else {
      installMethod(cls.get(), method);
    }
  }
  for (auto& m : node.classMethods) {
    Oop meta = metaclassOf(cls.get());
    Oop method = compileMethod(meta, *m, node.fileName);
    if (fresh) {
      meta = metaclassOf(cls.get());
      Oop dict = meta.object()->slot(class_slot::kMethodDictionary);
      Oop selector = method.object()->slot(code_slot::kSelector);
      LocalRoot metaRoot(sp.localRoots(), meta);
      Oop updated = method_dictionary::atPut(rt_, dict, selector, method);
      sp.storePointer(metaRoot.get(), class_slot::kMethodDictionary, updated);
    } else {
      installMethod(metaclassOf(cls.get()), method);
    }
  }
  return cls.get();
}

CompileContext ClassBuilder::contextFor(Oop cls, const std::string& fileName) const {
  CompileContext ctx{fileName, className(rt_, cls), instanceVariableNames(rt_, cls)};
  // The kernel library maintains what the VM maintains; code compiled later only reads it.
  if (!rt_.isBootstrapping()) {
    ctx.vmMaintainedFields =
        InstanceSpec::maintained(cls.object()->slot(class_slot::kInstanceSpec).smallInteger()).fields;
  }
  return ctx;
}

Oop ClassBuilder::compileMethod(Oop cls, MethodNode& method, const std::string& fileName) {
  LocalRoot c(rt_.space().localRoots(), cls);
  std::unique_ptr<CodeSpec> spec = vm::compileMethod(method, contextFor(c.get(), fileName));
  return install(*spec, c.get(), Oop(), fileName);
}

namespace {

std::unique_ptr<CodeSpec> generate(const PreparedCode::Key& key) {
  Parser parser(key.source, key.context.fileName);
  std::unique_ptr<MethodNode> node;
  if (key.statements) {
    node = parser.parseDoIt("DoIt");
    node->parameters = key.parameters;
    node->parameterLocations.assign(key.parameters.size(), node->where);
  } else {
    node = parser.parseMethod();
  }
  return vm::compileMethod(*node, key.context);
}

}  // namespace

Oop ClassBuilder::compileSource(Oop cls, PreparedCode::Key key) {
  LocalRoot c(rt_.space().localRoots(), cls);
  key.context = contextFor(c.get(), key.context.fileName);
  std::string fileName = key.context.fileName;
  if (const CodeSpec* prepared = prepared_.find(key)) {
    preparedTaken_++;
    return install(*prepared, c.get(), Oop(), fileName);
  }
  std::unique_ptr<CodeSpec> spec = generate(key);
  return install(*spec, c.get(), Oop(), fileName);
}

void ClassBuilder::prepareSource(Oop cls, PreparedCode::Key key) {
  key.context = contextFor(cls, key.context.fileName);
  try {
    std::unique_ptr<CodeSpec> spec = generate(key);
    prepared_.add(std::move(key), std::move(spec));
  } catch (const CompileError&) {
    // Compiled again in the pause, which reports the error where it belongs.
  }
}

Oop ClassBuilder::compileMethodSource(Oop cls, std::string_view source, const std::string& fileName) {
  return compileSource(cls, {std::string(source), false, {}, {fileName, {}, {}, 0}});
}

void ClassBuilder::prepareMethodSource(Oop cls, std::string_view source, const std::string& fileName) {
  prepareSource(cls, {std::string(source), false, {}, {fileName, {}, {}, 0}});
}

Oop ClassBuilder::compileStatements(Oop cls, std::string_view source, const std::vector<std::string>& parameters,
                                    const std::string& fileName) {
  return compileSource(cls, {std::string(source), true, parameters, {fileName, {}, {}, 0}});
}

void ClassBuilder::prepareStatements(Oop cls, std::string_view source, const std::vector<std::string>& parameters,
                                     const std::string& fileName) {
  prepareSource(cls, {std::string(source), true, parameters, {fileName, {}, {}, 0}});
}

Oop ClassBuilder::literalValue(const LiteralValue& v) {
  space::Space& sp = rt_.space();
  switch (v.kind) {
    case LiteralValue::Kind::Nil:
      return rt_.nil();
    case LiteralValue::Kind::True:
      return rt_.trueObject();
    case LiteralValue::Kind::False:
      return rt_.falseObject();
    case LiteralValue::Kind::Integer: {
      std::string text = v.text;
      bool negative = !text.empty() && text[0] == '-';
      if (negative) text = text.substr(1);
      int radix = 10;
      if (size_t r = text.find('r'); r != std::string::npos) {
        radix = std::stoi(text.substr(0, r));
        text = text.substr(r + 1);
      }
      std::optional<BigInt> n = BigInt::parse((negative ? "-" : "") + text, radix);
      if (!n) throw std::invalid_argument("bad integer literal " + v.text);
      return n->toOop(rt_);
    }
    case LiteralValue::Kind::Double: {
      Oop immediate;
      if (Oop::tryFromDouble(v.number, immediate)) return immediate;
      Oop d = sp.allocateWords(rt_.known.doubleClass, 1, Tenure::Old);
      std::memcpy(d.object()->words(), &v.number, sizeof(double));
      return d;
    }
    case LiteralValue::Kind::String:
      return newString(rt_, v.text, Tenure::Old);
    case LiteralValue::Kind::Symbol:
      return rt_.symbol(v.text);
    case LiteralValue::Kind::Character: {
      // Decode the UTF-8 of one character.
      const unsigned char* b = reinterpret_cast<const unsigned char*>(v.text.data());
      uint32_t cp = b[0];
      size_t more = cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : cp >= 0xC0 ? 1 : 0;
      if (more) cp &= 0x3Fu >> more;
      for (size_t i = 1; i <= more && i < v.text.size(); i++) cp = (cp << 6) | (b[i] & 0x3F);
      return Oop::fromCharacter(cp);
    }
    case LiteralValue::Kind::Array: {
      LocalRoot arr(sp.localRoots(), newArray(rt_, v.elements.size(), Tenure::Old));
      for (size_t i = 0; i < v.elements.size(); i++) {
        Oop e = literalValue(v.elements[i]);
        sp.storePointer(arr.get(), i, e);
      }
      return arr.get();
    }
    case LiteralValue::Kind::ByteArray: {
      Oop b = sp.allocateBytes(rt_.known.byteArray, v.bytes.size(), Tenure::Old);
      if (!v.bytes.empty()) std::memcpy(b.object()->bytes(), v.bytes.data(), v.bytes.size());
      return b;
    }
  }
  return rt_.nil();
}

namespace {
// The number of arguments of [selector]: its colons, or 1 for a binary operator.
size_t arityOf(std::string_view selector) {
  if (selector.empty()) return 0;
  if (!std::isalpha(static_cast<unsigned char>(selector[0])) && selector[0] != '_') return 1;
  return size_t(std::count(selector.begin(), selector.end(), ':'));
}
}  // namespace

void ClassBuilder::checkPrimitiveBinding(const std::string& name, const CodeSpec& spec, Oop holder,
                                         const std::string& fileName) {
  size_t split = name.find(">>");
  std::string owner = split == std::string::npos ? "" : name.substr(0, split);
  std::string selector = split == std::string::npos ? name : name.substr(split + 2);
  auto refuse = [&](const std::string& why) {
    throw CompileError(fileName, SourceLocation{spec.line, spec.column, 0}, "primitive '" + name + "' " + why);
  };
  if (arityOf(selector) != size_t(spec.numArgs)) {
    refuse("takes " + std::to_string(arityOf(selector)) + " argument(s), but " + spec.selector + " has " +
           std::to_string(spec.numArgs));
  }
  // Unqualified primitives (shallowCopy) accept any receiver; "Foo>>bar" ones read their
  // receiver as a Foo and are bound only in Foo or its subclasses.
  if (owner.empty() || owner == className(rt_, holder)) return;
  bool meta = owner.size() > 6 && owner.compare(owner.size() - 6, 6, " class") == 0;
  Oop cls = rt_.globals().at(rt_.symbol(meta ? owner.substr(0, owner.size() - 6) : owner));
  if (cls.isNull() || !isClass(rt_, cls)) refuse("belongs to " + owner + ", which is not a class");
  if (meta) cls = metaclassOf(cls);
  if (!inheritsFrom(rt_, holder, cls)) {
    refuse("belongs to " + owner + ": it cannot be bound in " + className(rt_, holder) +
           ", which does not inherit from " + owner);
  }
}

Oop ClassBuilder::install(const CodeSpec& spec, Oop holder, Oop outerCode, const std::string& fileName) {
  space::Space& sp = rt_.space();
  LocalRoot h(sp.localRoots(), holder), outer(sp.localRoots(), outerCode);

  unsigned primitive = 0;
  if (spec.isPrimitive) {
    std::string name = spec.primitiveName.empty() ? className(rt_, holder) + ">>" + spec.selector : spec.primitiveName;
    primitive = rt_.primitives().indexOf(name);
    if (primitive == 0) {
      throw CompileError(fileName, SourceLocation{spec.line, spec.column, 0}, "no primitive named '" + name + "'");
    }
    checkPrimitiveBinding(name, spec, h.get(), fileName);
  }
  space::ClassIndex cls = spec.isBlock       ? rt_.known.compiledBlock
                          : spec.isPrimitive ? rt_.known.primitive
                                             : rt_.known.method;
  LocalRoot code(sp.localRoots(), sp.allocate(cls, space::Format::CompiledCode, code_slot::kCount, Tenure::Old));
  code.get().object()->slots()[code_slot::kHeader] =
      Oop::fromSmallInteger(CodeHeader::pack(unsigned(spec.numArgs), unsigned(spec.numTemps), unsigned(spec.numCopied),
                                             unsigned(spec.maxStack), primitive, spec.flags));
  sp.storePointer(code.get(), code_slot::kSelector, rt_.symbol(spec.selector));
  sp.storePointer(code.get(), code_slot::kHolder, spec.isBlock ? outer.get() : h.get());
  code.get().object()->slots()[code_slot::kQuick] =
      Oop::fromSmallInteger(QuickMethod::pack(spec.quick, spec.quickField));

  Oop bytes = sp.allocateBytes(rt_.known.byteArray, spec.bytecodes.size(), Tenure::Old);
  if (!spec.bytecodes.empty()) std::memcpy(bytes.object()->bytes(), spec.bytecodes.data(), spec.bytecodes.size());
  sp.storePointer(code.get(), code_slot::kBytecodes, bytes);

  LocalRoot literals(sp.localRoots(), newArray(rt_, spec.literals.size(), Tenure::Old));
  sp.storePointer(code.get(), code_slot::kLiterals, literals.get());
  for (size_t i = 0; i < spec.literals.size(); i++) {
    const LiteralSpec& l = spec.literals[i];
    Oop value;
    switch (l.kind) {
      case LiteralSpec::Kind::Value:
        try {
          value = literalValue(l.value);
        } catch (const std::exception& e) {
          throw CompileError(fileName, SourceLocation{spec.line, spec.column, 0}, e.what());
        }
        break;
      case LiteralSpec::Kind::Global:
        value = rt_.globals().bindingOrCreate(rt_.symbol(l.name));
        if (l.assigned && value.object()->isImmutable()) {  // see protectKernelBindings
          throw CompileError(fileName, l.assignedAt,
                             "'" + l.name + "' is a global the kernel library relies on: it cannot be assigned");
        }
        break;
      case LiteralSpec::Kind::Block:
        value = install(*spec.blocks[l.blockIndex], h.get(), code.get(), fileName);
        break;
    }
    sp.storePointer(literals.get(), i, value);
  }

  LocalRoot sites(sp.localRoots(), newArray(rt_, spec.sendSites.size() * send_site::kSlots, Tenure::Old));
  for (size_t i = 0; i < spec.sendSites.size(); i++) {
    Oop sel = rt_.symbol(spec.sendSites[i].selector);
    Oop* s = sites.get().object()->slots() + i * send_site::kSlots;
    s[send_site::kSelector] = sel;
    s[send_site::kInfo] = Oop::fromSmallInteger(spec.sendSites[i].argumentCount);
    s[send_site::kClass0] = Oop::fromSmallInteger(0);
    s[send_site::kClass1] = Oop::fromSmallInteger(0);
  }
  sp.storePointer(code.get(), code_slot::kSendSites, sites.get());
  ESPELL_ASSERT(!sp.isYoung(sites.get()), "send-site arrays are old: the index does not follow scavenges");
  sendSites_.add(sites.get());

  // Debug info: source, line table (offset u16, line u16), argument and temporary names.
  LocalRoot debug(sp.localRoots(), newArray(rt_, debug_info::kCount, Tenure::Old));
  sp.storePointer(code.get(), code_slot::kDebugInfo, debug.get());
  if (!spec.isBlock) sp.storePointer(debug.get(), debug_info::kSource, newString(rt_, spec.source, Tenure::Old));
  Oop lines = sp.allocateBytes(rt_.known.byteArray, spec.lineTable.size() * 4, Tenure::Old);
  for (size_t i = 0; i < spec.lineTable.size(); i++) {
    uint8_t* b = lines.object()->bytes() + 4 * i;
    b[0] = uint8_t(spec.lineTable[i].first & 0xFF);
    b[1] = uint8_t(spec.lineTable[i].first >> 8);
    b[2] = uint8_t(spec.lineTable[i].second & 0xFF);
    b[3] = uint8_t(spec.lineTable[i].second >> 8);
  }
  sp.storePointer(debug.get(), debug_info::kLineTable, lines);
  Oop names = symbolArray(rt_, spec.tempNames);
  sp.storePointer(debug.get(), debug_info::kTempNames, names);
  Oop vectors = newArray(rt_, spec.vectorTemps.size(), Tenure::Old);
  for (size_t i = 0; i < spec.vectorTemps.size(); i++) {
    vectors.object()->slots()[i] = Oop::fromSmallInteger(spec.vectorTemps[i]);
  }
  sp.storePointer(debug.get(), debug_info::kVectorTemps, vectors);
  return code.get();
}

Oop ClassBuilder::lookupLocal(Oop cls, Oop selector) {
  return method_dictionary::lookup(rt_.space(), cls.object()->slot(class_slot::kMethodDictionary), selector);
}

void ClassBuilder::installMethod(Oop cls, Oop method) {
  space::Space& sp = rt_.space();
  LocalRoot c(sp.localRoots(), cls), m(sp.localRoots(), method);
  Oop selector = method.object()->slot(code_slot::kSelector);
  LocalRoot s(sp.localRoots(), selector);
  // The method now belongs to this class (super sends resolve from here).
  sp.storePointer(m.get(), code_slot::kHolder, c.get());
  Oop dict = c.get().object()->slot(class_slot::kMethodDictionary);
  retire(method_dictionary::lookup(sp, dict, s.get()));
  Oop updated = method_dictionary::atPut(rt_, dict, s.get(), m.get());
  sp.storePointer(c.get(), class_slot::kMethodDictionary, updated);
  indexSendSites(m.get());  // made while the index was invalid, perhaps
  invalidate(c.get(), s.get());
}

bool ClassBuilder::removeMethod(Oop cls, Oop selector) {
  retire(method_dictionary::lookup(rt_.space(), cls.object()->slot(class_slot::kMethodDictionary), selector));
  bool removed = method_dictionary::remove(rt_, cls.object()->slot(class_slot::kMethodDictionary), selector);
  if (removed) invalidate(cls, selector);
  return removed;
}

template <typename F>
void ClassBuilder::forEachSiteArray(Oop code, F&& f) {
  HeapObject* c = code.object();
  Oop sites = c->slot(code_slot::kSendSites);
  if (sites.isHeapObject() && sites != rt_.nil()) f(sites);
  Oop literals = c->slot(code_slot::kLiterals);
  for (size_t i = 0; i < literals.object()->slotCount(); i++) {
    Oop l = literals.object()->slot(i);
    if (l.isHeapObject() && l.object()->classIndex() == rt_.known.compiledBlock) forEachSiteArray(l, f);
  }
}

template <typename F>
void ClassBuilder::forEachSiteIn(Oop sites, F&& f) {
  Oop* site = sites.object()->slots();
  Oop* end = site + sites.object()->slotCount() / send_site::kSlots * send_site::kSlots;
  for (; site != end; site += send_site::kSlots) f(site);
}

template <typename F>
void ClassBuilder::forEachSendSite(Oop code, F&& f) {
  forEachSiteArray(code, [&](Oop sites) { forEachSiteIn(sites, f); });
}

template <typename F>
void ClassBuilder::forEachMethod(F&& f) {
  space::Space& sp = rt_.space();
  Oop nil = rt_.nil();
  sp.classTable().forEachClass([&](space::ClassIndex, Oop c) {
    if (!c.isHeapObject() || c.object()->slotCount() < class_slot::kCount) return;
    Oop dict = c.object()->slot(class_slot::kMethodDictionary);
    if (!dict.isHeapObject() || dict == nil || dict.object()->classIndex() != rt_.known.methodDictionary) return;
    method_dictionary::forEach(sp, dict, [&](Oop, Oop method) { f(method); });
  });
  sp.weakRegistry().forEachOf(retiredOwner_, f);
}

ClassBuilder::ClassBuilder(Runtime& rt) : rt_(rt) {
  retiredOwner_ = rt.space().weakRegistry().addOwner([](std::span<const space::WeakRegistry::Token>) {});
  rt.space().addWeakTable(&sendSites_);
}

ClassBuilder::~ClassBuilder() {
  rt_.space().removeWeakTable(&sendSites_);
  rt_.space().weakRegistry().removeOwner(retiredOwner_);
}

void ClassBuilder::indexSendSites(Oop code) {
  if (sendSites_.valid()) forEachSiteArray(code, [&](Oop sites) { sendSites_.add(sites); });
}

namespace {
uintptr_t pageOf(const void* address) {
  return reinterpret_cast<uintptr_t>(address) & ~uintptr_t(space::Reservation::kPageSize - 1);
}
}  // namespace

std::vector<uintptr_t> ClassBuilder::pagesOfMethodDictionary(Oop cls) const {
  std::vector<uintptr_t> pages;
  if (!cls.isHeapObject() || cls.object()->slotCount() < class_slot::kCount) return pages;
  pages.push_back(pageOf(cls.object()->slots() + class_slot::kMethodDictionary));
  Oop dict = cls.object()->slot(class_slot::kMethodDictionary);
  if (!dict.isHeapObject() || dict.object()->classIndex() != rt_.known.methodDictionary) return pages;
  // From its header (the remembered bit) to its last slot.
  const space::HeapObject* d = dict.object();
  for (uintptr_t page = pageOf(d); page <= pageOf(d->slots() + d->slotCount() - 1);
       page += space::Reservation::kPageSize) {
    pages.push_back(page);
  }
  return pages;
}

std::vector<uintptr_t> ClassBuilder::pagesOfCachingSites(std::span<const Oop> selectors) const {
  std::vector<uintptr_t> pages;
  if (!sendSites_.valid()) return pages;
  auto caches = [](Oop cls) { return cls.isSmallInteger() && cls.smallInteger() != 0; };
  for (Oop selector : selectors) {
    sendSites_.forEachArraySending(selector, [&](Oop sites) {
      forEachSiteIn(sites, [&](const Oop* site) {
        if (site[send_site::kSelector] != selector) return;
        if (!caches(site[send_site::kClass0]) && !caches(site[send_site::kClass1])) return;
        // A site may straddle two pages.
        pages.push_back(pageOf(site));
        pages.push_back(pageOf(site + send_site::kSlots - 1));
      });
    });
  }
  return pages;
}

void ClassBuilder::prepareForUpdate() {
  if (sendSites_.valid() || rt_.isBootstrapping()) return;
  sendSites_.startBuilding();
  forEachMethod([&](Oop method) { indexSendSites(method); });
}

void ClassBuilder::retire(Oop method) {
  if (method.isNull() || rt_.isBootstrapping()) return;
  rt_.space().weakRegistry().add(method, ++retiredTokens_, retiredOwner_);
}

std::vector<Oop> ClassBuilder::retiredCode() const {
  std::vector<Oop> code;
  rt_.space().weakRegistry().forEachOf(retiredOwner_, [&](Oop o) { code.push_back(o); });
  return code;
}

size_t ClassBuilder::retiredCount() const {
  size_t n = 0;
  rt_.space().weakRegistry().forEachOf(retiredOwner_, [&](Oop) { n++; });
  return n;
}

void ClassBuilder::invalidate(Oop cls, Oop selector) {
  if (rt_.isBootstrapping()) return;  // no code has run: no cache is filled yet
  rt_.methodCache().flushSelector(selector);
  std::vector<std::pair<space::Handle, space::Handle>> change;
  change.emplace_back(space::Handle(rt_.space(), cls), space::Handle(rt_.space(), selector));
  if (batching_) {
    pending_.push_back(std::move(change.front()));
    return;
  }
  invalidateAll(change);
}

void ClassBuilder::beginBatch() {
  batching_ = true;
}

void ClassBuilder::abandonBatch() {
  batching_ = false;
  pending_.clear();
}

void ClassBuilder::endBatch() {
  batching_ = false;
  std::vector<std::pair<space::Handle, space::Handle>> changes;
  changes.swap(pending_);
  if (!changes.empty()) invalidateAll(changes);
}

void ClassBuilder::flushBatch() {
  if (!batching_) return;
  endBatch();
  batching_ = true;
}

namespace {
// The selectors of a batch's changes, for the one question the invalidation pass asks of
// every send site of the space: open addressing on the symbol's address, at most a
// quarter full, so a site whose selector did not change costs one or two loads.
class SelectorSet {
 public:
  explicit SelectorSet(const std::vector<std::pair<space::Handle, space::Handle>>& changes) {
    size_t capacity = 16;
    while (capacity < changes.size() * 4) capacity *= 2;
    table_.assign(capacity, 0);
    for (const auto& change : changes) {
      uint64_t bits = change.second.get().bits();
      size_t i = slotFor(bits);
      while (table_[i] != 0 && table_[i] != bits) i = (i + 1) & (table_.size() - 1);
      table_[i] = bits;
    }
  }
  bool contains(Oop selector) const {
    uint64_t bits = selector.bits();
    for (size_t i = slotFor(bits);; i = (i + 1) & (table_.size() - 1)) {
      if (table_[i] == bits) return true;
      if (table_[i] == 0) return false;
    }
  }

 private:
  size_t slotFor(uint64_t bits) const {
    return size_t((bits >> 3) * 0x9E3779B97F4A7C15ull >> 40) & (table_.size() - 1);
  }
  std::vector<uint64_t> table_;  // selector bits; 0 is empty (no symbol is at address 0)
};
}  // namespace

void ClassBuilder::invalidateAll(const std::vector<std::pair<space::Handle, space::Handle>>& changes) {
  invalidationPasses_++;
  space::Space& sp = rt_.space();
  Oop nil = rt_.nil();
  SelectorSet changed(changes);
  auto stale = [&](Oop cached, Oop selector) {
    if (!cached.isSmallInteger() || cached.smallInteger() == 0) return false;
    space::ClassIndex k = space::ClassIndex(cached.smallInteger());
    if (!sp.classTable().isValidIndex(k)) return true;
    for (const auto& [cls, sel] : changes) {
      if (sel.get() == selector && inheritsFrom(rt_, rt_.classAt(k), cls.get())) return true;
    }
    return false;
  };
  auto invalidateSite = [&](Oop* site) {
    Oop selector = site[send_site::kSelector];
    if (!changed.contains(selector)) return;
    if (stale(site[send_site::kClass0], selector)) {
      site[send_site::kClass0] = Oop::fromSmallInteger(0);
      site[send_site::kMethod0] = nil;
    }
    if (stale(site[send_site::kClass1], selector)) {
      site[send_site::kClass1] = Oop::fromSmallInteger(0);
      site[send_site::kMethod1] = nil;
    }
  };
  if (sendSites_.valid()) {
    std::vector<uint64_t> done;  // selectors whose sites are cleared already
    for (const auto& change : changes) {
      Oop selector = change.second.get();
      if (std::find(done.begin(), done.end(), selector.bits()) != done.end()) continue;
      done.push_back(selector.bits());
      sendSites_.forEachArraySending(selector, [&](Oop sites) {
        forEachSiteIn(sites, [&](Oop* site) {
          if (site[send_site::kSelector] == selector) invalidateSite(site);
        });
      });
    }
#if ESPELL_ASSERTIONS
    // The index answered for every method: no site of a changed selector still caches a
    // lookup the change made stale.
    forEachMethod([&](Oop method) {
      forEachSendSite(method, [&](Oop* site) {
        Oop selector = site[send_site::kSelector];
        ESPELL_ASSERT(!changed.contains(selector) ||
                          (!stale(site[send_site::kClass0], selector) && !stale(site[send_site::kClass1], selector)),
                      "a send site the send-site index does not list kept a stale inline cache");
      });
    });
#endif
  } else {
    forEachMethod([&](Oop method) { forEachSendSite(method, invalidateSite); });
  }
  rt_.interpreter().refreshGuards();
}

void ClassBuilder::invalidateAll() {
  rt_.methodCache().flush();
  if (rt_.isBootstrapping()) return;
  Oop nil = rt_.nil();
  auto clearSite = [&](Oop* site) {
    site[send_site::kClass0] = Oop::fromSmallInteger(0);
    site[send_site::kMethod0] = nil;
    site[send_site::kClass1] = Oop::fromSmallInteger(0);
    site[send_site::kMethod1] = nil;
  };
  forEachMethod([&](Oop method) { forEachSendSite(method, clearSite); });
  rt_.interpreter().refreshGuards();
}

}  // namespace vm
