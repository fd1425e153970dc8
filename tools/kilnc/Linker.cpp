//===- Linker.cpp - Linking kilnc's objects, with lld in process ----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Linking used to be `g++ -fuse-ld=lld ... -o OUT`: g++ ran collect2, which
// ran ld.lld, which first loads libLLVM (40 ms of dynamic symbol lookups
// before it reads a file). kilnc has libLLVM loaded already, so it runs the
// same linker, lld's ELF driver (Debian's liblld-22-dev), as a library: the
// link of FashionCnn's binary takes 0.06 s instead of 0.11 s, and the
// binary is byte for byte the one ld.lld makes.
//
// What to link (crt1/crti/crtbegin, the -L paths of the toolchain, libstdc++
// and libgcc, the dynamic loader's path) still comes from the C++ compiler
// driver, which knows its installation: `DRIVER -### ARGS` prints the
// commands it would run and runs none (g++ starts in about a millisecond).
// Its last command is the link: ld.lld's own arguments for clang++, or
// collect2's for g++, which are ld's plus collect2's own -plugin and
// -fuse-ld options, dropped here (the plugin is GCC's LTO, which objects
// from LLVM never need).
//
//===----------------------------------------------------------------------===//

#include "Linker.h"

#include "lld/Common/Driver.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/StringSaver.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

LLD_HAS_DRIVER(elf)

using namespace llvm;

namespace {
/// The first of `names` on the PATH.
ErrorOr<std::string> findProgram(std::initializer_list<const char *> names) {
  for (const char *name : names)
    if (ErrorOr<std::string> path = sys::findProgramByName(name))
      return path;
  return std::make_error_code(std::errc::no_such_file_or_directory);
}

/// The text `program args...` writes to standard error, or a failure message
/// (as `std::nullopt` plus `failure`).
std::optional<std::string> standardErrorOf(StringRef program, ArrayRef<StringRef> args, std::string &failure) {
  SmallString<256> capture;
  if (std::error_code ec = sys::fs::createTemporaryFile("kilnc-link", "txt", capture)) {
    failure = "cannot create a temporary file: " + ec.message();
    return std::nullopt;
  }
  std::optional<StringRef> redirects[] = {std::nullopt, std::nullopt, StringRef(capture)};
  std::string message;
  int status = sys::ExecuteAndWait(program, args, std::nullopt, redirects, 0, 0, &message);
  ErrorOr<std::unique_ptr<MemoryBuffer>> text = MemoryBuffer::getFile(capture);
  sys::fs::remove(capture);
  if (status != 0 || !text) {
    failure = (program + " -### exited with " + Twine(status) + (message.empty() ? "" : ": " + message)).str();
    if (text)
      failure += "\n" + (*text)->getBuffer().trim().str();
    return std::nullopt;
  }
  return (*text)->getBuffer().str();
}

/// The linker's arguments in the driver's `-###` listing: its last command,
/// without the program's name and collect2's own options. Empty when the
/// last command is not a linker that lld stands in for.
std::vector<const char *> linkerArguments(StringRef listing, StringSaver &saver) {
  // Commands are the lines that start with a space; the others are the
  // driver's version, target and options.
  StringRef command;
  SmallVector<StringRef> lines;
  listing.split(lines, '\n');
  for (StringRef line : lines)
    if (line.starts_with(" "))
      command = line;
  SmallVector<const char *> tokens;
  cl::TokenizeGNUCommandLine(command, saver, tokens);
  if (tokens.empty())
    return {};
  StringRef program = sys::path::filename(tokens.front());
  bool collect2 = program == "collect2";
  if (!collect2 && program != "ld.lld" && program != "ld")
    return {};
  std::vector<const char *> args = {"ld.lld"};
  for (size_t i = 1; i < tokens.size(); ++i) {
    StringRef token = tokens[i];
    if (collect2 && token == "-plugin") {
      ++i; // and its file
      continue;
    }
    if (collect2 && (token.starts_with("-plugin-opt=") || token.starts_with("-fuse-ld=")))
      continue;
    args.push_back(tokens[i]);
  }
  return args;
}
} // namespace

std::string kiln::linkWithDriverCommand(ArrayRef<std::string> arguments, bool needsClang) {
  ErrorOr<std::string> clang = findProgram({"clang++-22", "clang++"});
  ErrorOr<std::string> driver = needsClang ? clang : findProgram({"g++", "clang++-22", "clang++", "c++"});
  if (!driver)
    return needsClang ? "no clang++ found to link the sanitizers' runtimes with"
                      : "no C++ compiler driver (g++, clang++-22, clang++ or c++) found to link with";
  std::vector<std::string> argv = {*driver, "-###"};
  // The command for lld (clang checks that an ld.lld exists; g++ is pointed
  // at the one beside clang, ahead of an older ld.lld on the PATH).
  SmallString<256> realClang;
  if (clang && !sys::fs::real_path(*clang, realClang)) {
    std::string llvmBin = sys::path::parent_path(realClang).str();
    if (sys::fs::can_execute(llvmBin + "/ld.lld")) {
      argv.push_back("-fuse-ld=lld");
      if (!sys::path::filename(*driver).contains("clang"))
        argv.push_back("-B" + llvmBin + "/");
    }
  }
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::vector<StringRef> argvRefs(argv.begin(), argv.end());
  std::string failure;
  std::optional<std::string> listing = standardErrorOf(*driver, argvRefs, failure);
  if (!listing)
    return "linking failed: " + failure;
  BumpPtrAllocator allocator;
  StringSaver saver(allocator);
  std::vector<const char *> args = linkerArguments(*listing, saver);
  if (args.empty())
    return "linking failed: no link command in the output of " + *driver + " -###:\n" +
           StringRef(*listing).trim().str();
  lld::Result result = lld::lldMain(args, outs(), errs(), {{lld::Gnu, &lld::elf::link}});
  if (result.retCode != 0)
    return "linking failed (lld, with the link command of " + *driver + ")";
  return "";
}
