// ClassBuilder: creating classes and metaclasses, compiling methods into CompiledMethod
// objects, installing and removing them, and keeping every method cache consistent with
// the change (exactly the send sites of the changed selector are invalidated).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "space/Handle.h"
#include "space/Space.h"
#include "vm/SendSiteIndex.h"
#include "vm/compiler/Ast.h"
#include "vm/compiler/CodeSpec.h"
#include "vm/compiler/PreparedCode.h"

namespace vm {

class Runtime;
using space::Oop;

class ClassBuilder {
 public:
  explicit ClassBuilder(Runtime& rt);
  ~ClassBuilder();

  // Creates a class and its metaclass, registered in the class table but not bound to a
  // global. `instanceVariables` and `classVariables` are the new class's own (not inherited).
  // Throws std::invalid_argument when the shape is impossible (fields on a byte class).
  Oop createClass(std::string_view name, Oop superclass, const std::vector<std::string>& instanceVariables,
                  const std::vector<std::string>& classVariables);
  // Same, with an explicit instance format (for kernel classes the VM knows).
  Oop createClassWithFormat(std::string_view name, Oop superclass, const std::vector<std::string>& instanceVariables,
                            space::Format format, const std::vector<std::string>& classVariables);
  void installGlobal(Oop cls);

  // Defines a class from a parsed class file: creates it (or reuses an existing one with
  // the same shape) and installs all its methods. Answers the class.
  Oop defineClass(ClassNode& node);

  // Compiles `method` for `cls` (its fields and holder) without installing it.
  Oop compileMethod(Oop cls, MethodNode& method, const std::string& fileName);
  // The same from source; the code prepared for it (prepareMethodSource) when there is.
  Oop compileMethodSource(Oop cls, std::string_view source, const std::string& fileName);
  // Statements (a doIt: "| temps | statements") compiled as a method of `cls` whose
  // parameters are `parameters`; the code prepared for them when there is.
  Oop compileStatements(Oop cls, std::string_view source, const std::vector<std::string>& parameters,
                        const std::string& fileName);
  // Parses and generates now what compileMethodSource or compileStatements will be asked
  // for with the same arguments (see PreparedCode.h): reads the heap, allocates nothing.
  // Code that does not compile is not kept (the compile reports its error).
  void prepareMethodSource(Oop cls, std::string_view source, const std::string& fileName);
  void prepareStatements(Oop cls, std::string_view source, const std::vector<std::string>& parameters,
                         const std::string& fileName);
  void forgetPrepared() { prepared_.clear(); }
  size_t preparedCount() const { return prepared_.size(); }
  // Compiles that took prepared code, since the runtime started.
  size_t preparedTaken() const { return preparedTaken_; }
  void installMethod(Oop cls, Oop method);
  bool removeMethod(Oop cls, Oop selector);
  Oop lookupLocal(Oop cls, Oop selector);

  // Invalidates the caches that may hold a lookup of `selector` in `cls` or its subclasses.
  // Inside a batch (beginBatch) the invalidation is recorded and done at endBatch, in
  // one pass over the code for every change of the batch.
  void invalidate(Oop cls, Oop selector);
  // A batch of changes (an update): invalidation once at the end. Batches do not nest.
  void beginBatch();
  void endBatch();
  // Inside a batch: does the pending invalidations now and keeps the batch open (before
  // code of the space runs in the middle of an update: it must see the changes so far).
  void flushBatch();
  bool batching() const { return batching_; }
  // Invalidation passes (invalidate outside a batch, endBatch) since the runtime started.
  size_t invalidationPasses() const { return invalidationPasses_; }
  // Drops the batch's pending invalidations (a rollback restores the caches instead).
  void abandonBatch();
  // Retired methods still watched (they may still run somewhere).
  size_t retiredCount() const;
  std::vector<Oop> retiredCode() const;
  // Watches `code` as retired (a runtime resumed from an image takes its list back).
  void adoptRetired(Oop code) { retire(code); }
  // Invalidates every cache (class hierarchy or VM configuration changes).
  void invalidateAll();
  // Builds the send-site index if it is not valid (a walk over every method, which is then
  // not needed inside the update's pause). Chester calls it before pausing the space.
  void prepareForUpdate();
  // The pages holding the send sites of `selectors` that cache a lookup: what clearing
  // stale caches after a change of those selectors may write (invalidateAll). From the
  // index; empty while it is invalid. Chester has them written ahead of its checkpoint.
  std::vector<uintptr_t> pagesOfCachingSites(std::span<const Oop> selectors) const;
  // The pages a change to the methods of `cls` writes: its method dictionary's, and the
  // class's own slot that holds it (a dictionary that grows is replaced).
  std::vector<uintptr_t> pagesOfMethodDictionary(Oop cls) const;
  // Identity swaps and rollbacks: the index is built again before the next update.
  void forgetSendSites() { sendSites_.invalidate(); }
  const SendSiteIndex& sendSiteIndex() const { return sendSites_; }

  Oop metaclassOf(Oop cls) const;
  std::string nameOf(Oop cls) const;

 private:
  Oop install(const CodeSpec& spec, Oop holder, Oop outerCode, const std::string& fileName);
  // The context code compiled for `cls` is generated in.
  CompileContext contextFor(Oop cls, const std::string& fileName) const;
  // `key` with its context's file name only: the rest is `cls`'s.
  Oop compileSource(Oop cls, PreparedCode::Key key);
  void prepareSource(Oop cls, PreparedCode::Key key);
  Oop literal(const LiteralSpec& l, Oop holder, const CodeSpec& spec, const std::string& fileName);
  Oop literalValue(const LiteralValue& v);
  // Refuses binding primitive [name] in a method of [holder] when the method's arguments
  // do not match the primitive's selector or [holder] does not inherit from its class.
  void checkPrimitiveBinding(const std::string& name, const CodeSpec& spec, Oop holder, const std::string& fileName);
  // f(Oop sites) for the send-site array of `code` and of each block in it.
  template <typename F>
  void forEachSiteArray(Oop code, F&& f);
  // f(Oop* site) for every send site of the array `sites`.
  template <typename F>
  static void forEachSiteIn(Oop sites, F&& f);
  // f(Oop* site) for every send site of `code` and of the blocks in it.
  template <typename F>
  void forEachSendSite(Oop code, F&& f);
  // Lists the send-site arrays of `code` and of its blocks in the index (when valid).
  void indexSendSites(Oop code);
  // f(Oop method) for installed methods, then retired ones.
  template <typename F>
  void forEachMethod(F&& f);
  // A method replaced or removed may still run (in a frame, or as the outer code of a
  // block still referenced): its inline caches stay subject to invalidation.
  void retire(Oop method);

  // One pass over every method and retired code: clears the inline-cache entries of send
  // sites whose selector is one of `changes`' and whose cached class inherits from the
  // class changed with it.
  void invalidateAll(const std::vector<std::pair<space::Handle, space::Handle>>& changes);

  Runtime& rt_;
  // Retired code (methods replaced or removed after bootstrap) may still run — in a frame,
  // or as the outer code of a live block — so its caches are invalidated like those of
  // installed methods. It is watched weakly: once nothing refers to it, the collector
  // drops it, and an update's cost does not grow with the updates applied before it.
  space::WeakRegistry::Owner retiredOwner_ = 0;
  uint64_t retiredTokens_ = 0;
  // The batch's pending invalidations (class, selector); `batching_` while one is open.
  bool batching_ = false;
  size_t invalidationPasses_ = 0;
  std::vector<std::pair<space::Handle, space::Handle>> pending_;
  SendSiteIndex sendSites_;
  PreparedCode prepared_;  // filled ahead of an update's pause, cleared after it
  size_t preparedTaken_ = 0;
};

}  // namespace vm
