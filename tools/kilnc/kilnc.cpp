//===- kilnc.cpp - The Kiln compiler driver -------------------------------===//
//
// `kilnc FILE --emit=LEVEL` reads a .kiln file, parses and checks it, and
// prints the requested stage: the checked AST (`ast`), the kiln dialect
// (`kiln`), or a human summary of each model (`summary`: inputs, parameters
// with shapes and initializers, outputs, loss and metrics, optimizer).
// Levels are ordered as in MLIR Toy's driver; later issues add lowering
// levels (linalg, llvm, obj, ...) after `kiln`.
//
// Errors: user mistakes are reported by the front end as
// `file:line:col: error: message` with the source line and a caret; the
// driver only turns failure into exit code 1. Internal failures (an emitted
// module that does not verify) are reported through MLIR's source-manager
// diagnostic handler, which prints the same format.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"
#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "frontend/MLIRGen.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace {
enum class EmitLevel { AST, Kiln, Summary };

cl::opt<std::string> inputFilename(cl::Positional, cl::desc("<input .kiln file>"),
                                   cl::init("-"), cl::value_desc("filename"));
cl::opt<std::string> outputFilename("o", cl::desc("Output file (default: standard output)"),
                                    cl::value_desc("filename"), cl::init("-"));
cl::opt<EmitLevel> emitLevel(
    "emit", cl::desc("What to produce"), cl::init(EmitLevel::Kiln),
    cl::values(clEnumValN(EmitLevel::AST, "ast", "the checked AST, with types"),
               clEnumValN(EmitLevel::Kiln, "kiln", "the kiln dialect (MLIR)"),
               clEnumValN(EmitLevel::Summary, "summary",
                          "a summary of each model: inputs, parameters, outputs")));

/// Formats a tensor type the way the language writes it: `f32[N, 28, 28, 1]`.
std::string formatKilnType(mlir::Type type) {
  std::string text;
  raw_string_ostream os(text);
  auto tensor = dyn_cast<mlir::RankedTensorType>(type);
  if (!tensor) {
    os << type;
    return text;
  }
  os << tensor.getElementType();
  if (tensor.getRank() == 0)
    return text;
  os << '[';
  llvm::interleaveComma(tensor.getShape(), os, [&](int64_t dim) {
    if (mlir::ShapedType::isDynamic(dim))
      os << 'N';
    else
      os << dim;
  });
  os << ']';
  return text;
}

/// Prints the summary of one model module, read back from the kiln dialect
/// (so that it shows what the compiler will work from, not what the parser saw).
void printModelSummary(mlir::ModuleOp model, raw_ostream &os) {
  os << "model " << model.getSymName().value_or("?") << "\n";

  // Inputs: the union of every function's kiln.input arguments, first seen first.
  SmallVector<std::pair<std::string, mlir::Type>> inputs;
  SmallVector<std::string> functions;
  SmallVector<std::pair<std::string, mlir::Type>> outputs, lossResults;
  for (auto func : model.getOps<mlir::func::FuncOp>()) {
    functions.push_back(("@" + func.getSymName()).str());
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
      auto name = func.getArgAttrOfType<mlir::StringAttr>(i, "kiln.input");
      if (!name)
        continue;
      if (llvm::none_of(inputs, [&](auto &in) { return in.first == name.getValue(); }))
        inputs.push_back({name.getValue().str(), func.getArgument(i).getType()});
    }
    bool isLoss = func.getSymName().ends_with("_loss");
    for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
      auto name = func.getResultAttrOfType<mlir::StringAttr>(i, "kiln.output");
      auto entry = std::make_pair(name ? name.getValue().str() : std::string("?"),
                                  func.getResultTypes()[i]);
      (isLoss ? lossResults : outputs).push_back(entry);
    }
  }

  os << "  inputs:\n";
  for (auto &[name, type] : inputs)
    os << "    " << left_justify(name, 18) << " " << formatKilnType(type) << "\n";

  int64_t totalValues = 0;
  auto params = llvm::to_vector(model.getOps<kiln::ParamOp>());
  for (kiln::ParamOp param : params)
    totalValues += cast<mlir::RankedTensorType>(param.getType()).getNumElements();
  os << "  parameters: " << params.size() << " tensors, " << totalValues << " values\n";
  for (kiln::ParamOp param : params) {
    os << "    " << left_justify(param.getSymName(), 18) << " "
       << left_justify(formatKilnType(param.getType()), 20) << " "
       << kiln::stringifyInitKind(param.getInit());
    if (auto value = param.getValue())
      os << "(" << format("%g", value->convertToDouble()) << ")";
    os << "\n";
  }

  os << "  outputs:\n";
  for (auto &[name, type] : outputs)
    os << "    " << left_justify(name, 18) << " " << formatKilnType(type) << "\n";
  if (!lossResults.empty()) {
    os << "  loss and metrics:\n";
    for (auto &[name, type] : lossResults)
      os << "    " << left_justify(name, 18) << " " << formatKilnType(type) << "\n";
  }
  if (auto optimizer = model->getAttrOfType<mlir::DictionaryAttr>("kiln.optimizer")) {
    os << "  optimizer: ";
    auto name = optimizer.getAs<mlir::StringAttr>("name");
    os << (name ? name.getValue() : "?") << "(";
    bool first = true;
    for (mlir::NamedAttribute entry : optimizer) {
      if (entry.getName() == "name")
        continue;
      os << (first ? "" : ", ") << entry.getName().getValue() << " = ";
      first = false;
      if (auto f = dyn_cast<mlir::FloatAttr>(entry.getValue()))
        os << format("%g", f.getValueAsDouble());
      else if (auto b = dyn_cast<mlir::BoolAttr>(entry.getValue()))
        os << (b.getValue() ? "true" : "false");
      else
        os << entry.getValue();
    }
    os << ")\n";
  }
  os << "  functions: ";
  llvm::interleaveComma(functions, os);
  os << "\n";
}
} // namespace

int main(int argc, char **argv) {
  InitLLVM initLLVM(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "kilnc: the Kiln model compiler\n");

  auto fileOrErr = MemoryBuffer::getFileOrSTDIN(inputFilename, /*IsText=*/true);
  if (std::error_code ec = fileOrErr.getError()) {
    errs() << "kilnc: error: cannot read '" << inputFilename << "': " << ec.message() << "\n";
    return 1;
  }
  SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*fileOrErr), SMLoc());

  kiln::Diagnostics diagnostics(sourceMgr);
  std::unique_ptr<kiln::ast::Module> ast = kiln::parseFile(sourceMgr, diagnostics);
  if (!ast || failed(kiln::checkModule(*ast, diagnostics)))
    return 1;

  std::string errorMessage;
  auto output = mlir::openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    errs() << "kilnc: error: " << errorMessage << "\n";
    return 1;
  }

  if (emitLevel == EmitLevel::AST) {
    kiln::ast::printModule(*ast, output->os());
    output->keep();
    return 0;
  }

  mlir::MLIRContext context;
  context.loadDialect<kiln::KilnDialect, mlir::func::FuncDialect>();
  mlir::SourceMgrDiagnosticHandler diagnosticHandler(sourceMgr, &context);
  mlir::OwningOpRef<mlir::ModuleOp> module = kiln::emitKilnDialect(context, *ast, sourceMgr);
  if (!module)
    return 1;
  if (failed(mlir::verify(*module))) {
    errs() << "kilnc: internal error: the emitted kiln dialect does not verify\n";
    return 1;
  }

  if (emitLevel == EmitLevel::Kiln) {
    module->print(output->os());
  } else {
    bool first = true;
    for (auto model : module->getOps<mlir::ModuleOp>()) {
      if (!first)
        output->os() << "\n";
      first = false;
      printModelSummary(model, output->os());
    }
  }
  output->keep();
  return 0;
}
