//===- Diagnostics.cpp - Source locations and error reporting -------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Implements `kiln::Diagnostics` on top of `llvm::SourceMgr::PrintMessage`.
//
//===----------------------------------------------------------------------===//

#include "frontend/Diagnostics.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>

using namespace kiln;

Location Location::span(Location first, Location last) {
  if (!first.isValid())
    return last;
  if (!last.isValid() || last.end() < first.begin())
    return first;
  const char *endPtr = std::max(first.end(), last.end());
  return Location(first.loc, static_cast<unsigned>(endPtr - first.begin()));
}

LineCol kiln::getLineCol(const llvm::SourceMgr &srcMgr, Location loc) {
  if (!loc.isValid())
    return {};
  unsigned bufferID = srcMgr.FindBufferContainingLoc(loc.loc);
  if (bufferID == 0)
    return {};
  auto [line, col] = srcMgr.getLineAndColumn(loc.loc, bufferID);
  return {line, col};
}

void Diagnostics::error(Location loc, const llvm::Twine &msg) {
  ++numErrors;
  report(Severity::Error, loc, msg);
}

void Diagnostics::warning(Location loc, const llvm::Twine &msg) { report(Severity::Warning, loc, msg); }

void Diagnostics::note(Location loc, const llvm::Twine &msg) { report(Severity::Note, loc, msg); }

/// Returns the line of `buffer` that holds `ptr`, without its line break.
static llvm::StringRef getLineAround(const llvm::MemoryBuffer &buffer, const char *ptr) {
  const char *begin = ptr, *end = ptr;
  while (begin > buffer.getBufferStart() && begin[-1] != '\n' && begin[-1] != '\r')
    --begin;
  while (end < buffer.getBufferEnd() && *end != '\n' && *end != '\r')
    ++end;
  return llvm::StringRef(begin, end - begin);
}

/// Prints the caret line under `line` for `loc`, for a line that holds
/// non-ASCII text: `SourceMgr` prints such a line without a caret (its columns
/// count bytes). Here each UTF-8 character takes one column (continuation
/// bytes take none) and a tab advances to the next multiple of 8, as
/// `SourceMgr` expands tabs.
static void printCaretLine(llvm::raw_ostream &os, llvm::StringRef line, Location loc) {
  std::string caret;
  const char *rangeEnd = std::max(loc.end(), loc.begin() + 1);
  for (const char *p = line.begin(); p < line.end() && p < rangeEnd; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x80 && c < 0xc0)
      continue; // A UTF-8 continuation byte: same column as its lead byte.
    char mark = p < loc.begin() ? ' ' : p == loc.begin() ? '^' : '~';
    size_t width = c == '\t' ? 8 - caret.size() % 8 : 1;
    caret.append(width, mark);
  }
  caret.erase(caret.find_last_not_of(' ') + 1);
  os << caret << '\n';
}

void Diagnostics::report(Severity severity, Location loc, const llvm::Twine &msg) {
  std::string text = msg.str();
  records.push_back({severity, getLineCol(loc), text});
  if (silent)
    return;
  llvm::SourceMgr::DiagKind kind = llvm::SourceMgr::DK_Error;
  if (severity == Severity::Warning)
    kind = llvm::SourceMgr::DK_Warning;
  else if (severity == Severity::Note)
    kind = llvm::SourceMgr::DK_Note;
  // A range is only meaningful inside one buffer; PrintMessage clips it to
  // the line of `loc`.
  if (loc.isValid() && srcMgr.FindBufferContainingLoc(loc.loc) != 0) {
    llvm::SmallVector<llvm::SMRange, 1> ranges;
    if (loc.length != 0)
      ranges.push_back(loc.range());
    srcMgr.PrintMessage(*os, loc.loc, kind, text, ranges);
    const llvm::MemoryBuffer *buffer = srcMgr.getMemoryBuffer(srcMgr.FindBufferContainingLoc(loc.loc));
    llvm::StringRef line = getLineAround(*buffer, loc.begin());
    if (!line.empty() && !llvm::all_of(line, [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
      printCaretLine(*os, line, loc);
  } else {
    srcMgr.PrintMessage(*os, llvm::SMLoc(), kind, text);
  }
}
