//===- ParallelCodegen.cpp - Optimize and compile on several threads ------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// emitObjectsInParallel (ObjectEmitter.h). LLVM's optimizer and code
// generator take most of the time kilnc spends on a model, and both work one
// function at a time in one LLVMContext, which no two threads may use. So the
// module is cut into parts, each part goes to a context of its own (through
// bitcode) and is optimized and compiled on a thread of its own; the objects
// are linked together.
//
// A part is a set of the module's public definitions (the models' functions
// and their ABI wrappers, the descriptors), chosen so that the parts hold
// about as many instructions each (largest first into the smallest part).
// The module-private definitions go with what uses them:
//   - functions and constants are copied into every part that uses them, so
//     each part is optimized as the whole module was: the OpenMP-outlined
//     regions stay with the function that forks them, and the buffer cache's
//     allocator can still be inlined everywhere;
//   - variables (the buffer cache's slots) must exist once: they become
//     hidden symbols, defined in one part. That is why the objects may only
//     be linked with each other into one binary or library, not shipped as
//     objects: two models' objects would define the same hidden symbol.
//   - so do the functions whose address is all that is used (the OpenMP
//     loop bodies handed to __kmpc_fork_call) when several public
//     definitions reach them: the forward function's bodies, which predict
//     and loss reach, and those grad forks too once translateToLLVMIR has
//     merged grad's identical copies into them. Copying them would compile
//     them twice; no call to them could be inlined anyway.
// Calls between parts (train_step calling grad) become calls to external
// functions, which the optimizer knows less about; the kernels are unchanged.
//
//===----------------------------------------------------------------------===//

#include "codegen/ObjectEmitter.h"

#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Transforms/Utils/Cloning.h"

#include <algorithm>
#include <mutex>
#include <numeric>

using namespace kiln;

namespace {
/// The global values `value` refers to: from a function's instructions or a
/// variable's initializer, through constant expressions.
llvm::SmallPtrSet<const llvm::GlobalValue *, 8> referencedGlobals(const llvm::GlobalValue &value) {
  llvm::SmallPtrSet<const llvm::GlobalValue *, 8> globals;
  llvm::SmallPtrSet<const llvm::Constant *, 16> seen;
  llvm::SmallVector<const llvm::Constant *> worklist;
  auto visit = [&](const llvm::Value *operand) {
    if (const auto *global = llvm::dyn_cast<llvm::GlobalValue>(operand))
      globals.insert(global);
    else if (const auto *constant = llvm::dyn_cast<llvm::Constant>(operand); constant && seen.insert(constant).second)
      worklist.push_back(constant);
  };
  if (const auto *function = llvm::dyn_cast<llvm::Function>(&value)) {
    for (const llvm::Instruction &instruction : llvm::instructions(function))
      for (const llvm::Value *operand : instruction.operands())
        visit(operand);
  } else if (const auto *variable = llvm::dyn_cast<llvm::GlobalVariable>(&value);
             variable && variable->hasInitializer()) {
    visit(variable->getInitializer());
  }
  while (!worklist.empty())
    for (const llvm::Value *operand : worklist.pop_back_val()->operands())
      visit(operand);
  return globals;
}

/// Whether the module has something this splitting does not handle (then it
/// is compiled in one piece): aliases, ifuncs, comdats, appending variables
/// (llvm.used, constructors), which tie definitions together in other ways.
bool canSplit(const llvm::Module &module) {
  if (!module.alias_empty() || !module.ifunc_empty())
    return false;
  for (const llvm::GlobalObject &object : module.global_objects())
    if (object.hasComdat() || object.hasAppendingLinkage())
      return false;
  return true;
}

/// Whether every use of `function` takes its address (none calls it).
bool onlyAddressTaken(const llvm::Function &function) {
  return llvm::none_of(function.uses(), [](const llvm::Use &use) {
    const auto *call = llvm::dyn_cast<llvm::CallBase>(use.getUser());
    return call && call->isCallee(&use);
  });
}

/// A public definition with the private definitions it reaches, and their
/// size in instructions.
struct Root {
  llvm::SmallPtrSet<const llvm::GlobalValue *, 32> members;
  size_t size = 0;
};

/// The roots of `module`: one per public definition.
std::vector<Root> findRoots(const llvm::Module &module) {
  std::vector<Root> roots;
  for (const llvm::GlobalObject &object : module.global_objects()) {
    if (object.isDeclaration() || object.hasLocalLinkage())
      continue;
    Root root;
    llvm::SmallVector<const llvm::GlobalValue *> worklist = {&object};
    root.members.insert(&object);
    while (!worklist.empty()) {
      const llvm::GlobalValue *value = worklist.pop_back_val();
      if (const auto *function = llvm::dyn_cast<llvm::Function>(value))
        root.size += function->getInstructionCount();
      for (const llvm::GlobalValue *used : referencedGlobals(*value))
        if (used->hasLocalLinkage() && !used->isDeclaration() && root.members.insert(used).second)
          worklist.push_back(used);
    }
    roots.push_back(std::move(root));
  }
  return roots;
}

/// Makes `value` a hidden public symbol, defined in one part only.
void defineOnce(llvm::GlobalValue &value) {
  value.setLinkage(llvm::GlobalValue::ExternalLinkage);
  value.setVisibility(llvm::GlobalValue::HiddenVisibility);
}

/// Divides the definitions of `module` into at most `maxParts` sets, each
/// closed under the module-private definitions it uses (see the top of the
/// file). Makes module-private variables, and the shared loop bodies, hidden
/// public symbols first.
std::vector<llvm::SmallPtrSet<const llvm::GlobalValue *, 32>> partition(llvm::Module &module, unsigned maxParts) {
  for (llvm::GlobalVariable &variable : module.globals())
    if (variable.hasLocalLinkage() && !variable.isConstant())
      defineOnce(variable);
  llvm::DenseMap<const llvm::GlobalValue *, unsigned> reachedBy;
  for (const Root &root : findRoots(module))
    for (const llvm::GlobalValue *member : root.members)
      ++reachedBy[member];
  for (llvm::Function &function : module.functions())
    if (function.hasLocalLinkage() && !function.isDeclaration() && reachedBy.lookup(&function) > 1 &&
        onlyAddressTaken(function))
      defineOnce(function);
  std::vector<Root> roots = findRoots(module);
  // Largest first, each into the smallest part so far (ties in module
  // order, so that the same module is always cut the same way).
  std::vector<size_t> order(roots.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return roots[a].size != roots[b].size ? roots[a].size > roots[b].size : a < b; });
  unsigned parts = std::max(1u, std::min<unsigned>(maxParts, roots.size()));
  std::vector<llvm::SmallPtrSet<const llvm::GlobalValue *, 32>> members(parts);
  std::vector<size_t> sizes(parts, 0);
  for (size_t index : order) {
    size_t smallest = std::min_element(sizes.begin(), sizes.end()) - sizes.begin();
    members[smallest].insert(roots[index].members.begin(), roots[index].members.end());
    sizes[smallest] += roots[index].size;
  }
  return members;
}

/// The object code of a module given as bitcode, made in a context of its own.
llvm::Expected<llvm::SmallString<0>> compilePart(llvm::StringRef bitcode, const CpuTargetOptions &options) {
  llvm::LLVMContext context;
  llvm::Expected<std::unique_ptr<llvm::Module>> module =
      llvm::parseBitcodeFile(llvm::MemoryBufferRef(bitcode, "part"), context);
  if (!module)
    return module.takeError();
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> targetMachine = createCpuTargetMachine(options);
  if (!targetMachine)
    return targetMachine.takeError();
  optimizeModule(**module, options.optLevel, targetMachine->get());
  llvm::SmallString<0> object;
  llvm::raw_svector_ostream os(object);
  if (llvm::Error error = emitMachineCode(**module, **targetMachine, os, llvm::CodeGenFileType::ObjectFile))
    return std::move(error);
  return object;
}
} // namespace

llvm::Expected<std::vector<llvm::SmallString<0>>>
kiln::emitObjectsInParallel(llvm::Module &module, const CpuTargetOptions &options, unsigned maxParts) {
  std::vector<llvm::SmallPtrSet<const llvm::GlobalValue *, 32>> parts =
      partition(module, canSplit(module) ? maxParts : 1);
  std::vector<llvm::SmallString<0>> bitcode(parts.size()), objects(parts.size());
  std::vector<std::string> errors;
  std::mutex errorsMutex;
  llvm::ThreadPoolStrategy strategy = llvm::hardware_concurrency(parts.size());
  strategy.Limit = true; // no more threads than the machine has
  llvm::DefaultThreadPool pool(strategy);
  for (size_t i = 0; i < parts.size(); ++i) {
    // Cloned here, in the module's context, as bitcode for the part's own.
    llvm::ValueToValueMapTy map;
    std::unique_ptr<llvm::Module> part =
        llvm::CloneModule(module, map, [&](const llvm::GlobalValue *value) { return parts[i].contains(value); });
    // What other parts define and this one does not use (unnamed private
    // constants among them, which may not be declared).
    for (llvm::GlobalObject &object : llvm::make_early_inc_range(part->global_objects()))
      if (object.isDeclaration() && object.use_empty())
        object.eraseFromParent();
    llvm::raw_svector_ostream os(bitcode[i]);
    llvm::WriteBitcodeToFile(*part, os);
    // Compiled while the next parts are cloned: the first is the largest.
    pool.async([&, i] {
      llvm::Expected<llvm::SmallString<0>> object = compilePart(bitcode[i], options);
      if (object) {
        objects[i] = std::move(*object);
        return;
      }
      std::lock_guard<std::mutex> lock(errorsMutex);
      errors.push_back(llvm::toString(object.takeError()));
    });
  }
  pool.wait();
  if (!errors.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), llvm::join(errors, "; "));
  return objects;
}
