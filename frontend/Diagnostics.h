//===- Diagnostics.h - Source locations and error reporting -----*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Every front-end error goes through `kiln::Diagnostics`, a thin wrapper over
// `llvm::SourceMgr::PrintMessage`, so that each message reads
// `file:line:col: error: message` followed by the source line and a caret with
// `~` under the offending text. It also counts errors and keeps a copy of each
// message so that unit tests can inspect them without parsing text.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_DIAGNOSTICS_H
#define KILN_FRONTEND_DIAGNOSTICS_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/SMLoc.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace kiln {

/// A range of source text: where it starts in a `SourceMgr` buffer and how many
/// bytes it covers. A length of zero denotes a point (e.g. end of file).
struct Location {
  llvm::SMLoc loc;
  unsigned length = 0;

  Location() = default;
  Location(llvm::SMLoc loc, unsigned length) : loc(loc), length(length) {}

  /// Returns the first byte of the range.
  const char *begin() const { return loc.getPointer(); }
  /// Returns one past the last byte of the range.
  const char *end() const { return loc.getPointer() + length; }
  /// Returns the range as an `llvm::SMRange` (for `SourceMgr::PrintMessage`).
  llvm::SMRange range() const { return llvm::SMRange(loc, llvm::SMLoc::getFromPointer(end())); }
  bool isValid() const { return loc.isValid(); }

  /// Returns the smallest range covering both `first` and `last`, assuming
  /// `first` starts no later than `last`.
  static Location span(Location first, Location last);
};

/// A 1-based line and column.
struct LineCol {
  unsigned line = 0;
  unsigned col = 0;
};

/// Returns the 1-based line and column of `loc` in `srcMgr` (0:0 if the
/// location is invalid or not in any buffer).
LineCol getLineCol(const llvm::SourceMgr &srcMgr, Location loc);

/// Reports errors and notes against source locations, counting the errors.
class Diagnostics {
public:
  enum class Severity { Error, Warning, Note };

  /// One reported message, as recorded for tests and tools.
  struct Record {
    Severity severity;
    LineCol pos;
    std::string message;
  };

  /// Creates a reporter for buffers of `srcMgr` that prints to `os`.
  explicit Diagnostics(llvm::SourceMgr &srcMgr, llvm::raw_ostream &os = llvm::errs()) : srcMgr(srcMgr), os(&os) {}

  /// Reports an error at `loc`, underlining its text.
  void error(Location loc, const llvm::Twine &msg);
  /// Reports a warning at `loc`.
  void warning(Location loc, const llvm::Twine &msg);
  /// Attaches a note at `loc` (usually to the error just reported).
  void note(Location loc, const llvm::Twine &msg);

  /// Returns the number of errors reported so far.
  unsigned getNumErrors() const { return numErrors; }
  /// Returns true if at least one error was reported.
  bool hadError() const { return numErrors != 0; }
  /// Returns every message reported so far, in order.
  const std::vector<Record> &getRecords() const { return records; }

  /// Redirects output (e.g. to a string stream in tests).
  void setOutputStream(llvm::raw_ostream &stream) { os = &stream; }
  /// Stops printing (messages are still counted and recorded).
  void setSilent(bool value) { silent = value; }

  llvm::SourceMgr &getSourceMgr() const { return srcMgr; }
  /// Returns the 1-based line and column of `loc`.
  LineCol getLineCol(Location loc) const { return kiln::getLineCol(srcMgr, loc); }

private:
  void report(Severity severity, Location loc, const llvm::Twine &msg);

  llvm::SourceMgr &srcMgr;
  llvm::raw_ostream *os;
  bool silent = false;
  unsigned numErrors = 0;
  std::vector<Record> records;
};

} // namespace kiln

#endif // KILN_FRONTEND_DIAGNOSTICS_H
