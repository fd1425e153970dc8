//===- Csv.cpp - The CSV reader -------------------------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Comma-separated files with a header row of column names (RFC 4180 quoting:
// fields in double quotes may hold commas, newlines and "" for a quote).
// Selected columns become an f32 tensor [rows, columns]; numbers are parsed
// with std::from_chars, so the result does not depend on the C locale.
// Cells must hold finite numbers (no NaN, no infinity). Every error names the
// file, the line and the column.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

using namespace kiln::runtime;

namespace {

/// Splits the file into records of fields.
class CsvScanner {
public:
  CsvScanner(const std::string &text) : text_(text) {}

  /// Reads the next non-blank record into `fields`; `line` gets its first
  /// line number (1-based). Returns false at the end of the text; sets
  /// `error` for an unterminated quote.
  bool next(std::vector<std::string> &fields, size_t &line, std::string &error) {
    for (;;) {
      if (pos_ >= text_.size())
        return false;
      // Skip blank lines.
      size_t probe = pos_;
      while (probe < text_.size() && (text_[probe] == ' ' || text_[probe] == '\t' || text_[probe] == '\r'))
        ++probe;
      if (probe >= text_.size()) {
        pos_ = probe;
        return false;
      }
      if (text_[probe] == '\n') {
        pos_ = probe + 1;
        ++line_;
        continue;
      }
      break;
    }
    fields.clear();
    line = line_;
    for (;;) {
      std::string field;
      while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t'))
        ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        size_t startLine = line_;
        ++pos_;
        for (;;) {
          if (pos_ >= text_.size()) {
            error = "line " + std::to_string(startLine) + ": unterminated quoted field";
            return true;
          }
          char c = text_[pos_++];
          if (c == '"') {
            if (pos_ < text_.size() && text_[pos_] == '"') {
              field += '"';
              ++pos_;
              continue;
            }
            break;
          }
          if (c == '\n')
            ++line_;
          field += c;
        }
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r'))
          ++pos_;
        if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n') {
          error = "line " + std::to_string(line_) + ": unexpected text after a quoted field";
          return true;
        }
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n')
          field += text_[pos_++];
        while (!field.empty() && (field.back() == ' ' || field.back() == '\t' || field.back() == '\r'))
          field.pop_back();
      }
      fields.push_back(std::move(field));
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size()) { // '\n'
        ++pos_;
        ++line_;
      }
      return true;
    }
  }

private:
  const std::string &text_;
  size_t pos_ = 0;
  size_t line_ = 1;
};

std::string joinNames(const std::vector<std::string> &names) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i)
      text += ", ";
    text += names[i];
  }
  return text;
}

} // namespace

extern "C" kiln_status_t kiln_read_csv(const char *path, const char *const *columns, size_t num_columns,
                                       kiln_tensor_t **out) {
  if (!out || !path || (!columns && num_columns))
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_read_csv: NULL argument");
  *out = nullptr;
  if (num_columns == 0)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "%s: no columns requested", path);
  InputFile file;
  if (kiln_status_t status = file.open(path))
    return status;
  std::string text(static_cast<size_t>(file.size()), '\0');
  size_t got = 0;
  if (kiln_status_t status = file.readAt(0, text.data(), text.size(), &got))
    return status;
  text.resize(got);
  if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0)
    text.erase(0, 3); // A UTF-8 byte-order mark.

  CsvScanner scanner(text);
  std::vector<std::string> header, fields;
  size_t line = 0;
  std::string error;
  if (!scanner.next(header, line, error))
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: empty CSV file: expected a header row of column "
                      "names",
                      path);
  if (!error.empty())
    return makeStatus(KILN_STATUS_DATA_LOSS, "%s: %s", path, error.c_str());

  std::vector<size_t> indices(num_columns);
  for (size_t c = 0; c < num_columns; ++c) {
    if (!columns[c])
      return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_read_csv: column name %zu is NULL", c);
    size_t found = header.size();
    for (size_t h = 0; h < header.size(); ++h) {
      if (header[h] != columns[c])
        continue;
      if (found != header.size())
        return makeStatus(KILN_STATUS_DATA_LOSS, "%s: column '%s' appears twice in the header", path, columns[c]);
      found = h;
    }
    if (found == header.size())
      return makeStatus(KILN_STATUS_NOT_FOUND, "%s: no column named '%s' (the header has: %s)", path, columns[c],
                        joinNames(header).c_str());
    indices[c] = found;
  }

  std::vector<float> values;
  int64_t rows = 0;
  for (;;) {
    if (!scanner.next(fields, line, error))
      break;
    if (!error.empty())
      return makeStatus(KILN_STATUS_DATA_LOSS, "%s: %s", path, error.c_str());
    if (fields.size() != header.size())
      return makeStatus(KILN_STATUS_DATA_LOSS, "%s: line %zu has %zu fields, the header has %zu", path, line,
                        fields.size(), header.size());
    for (size_t c = 0; c < num_columns; ++c) {
      const std::string &cell = fields[indices[c]];
      if (cell.empty())
        return makeStatus(KILN_STATUS_DATA_LOSS,
                          "%s: line %zu, column '%s': empty cell, expected a "
                          "number",
                          path, line, columns[c]);
      const char *begin = cell.data(), *end = cell.data() + cell.size();
      if (*begin == '+')
        ++begin;
      float value = 0;
      auto [ptr, ec] = std::from_chars(begin, end, value);
      if (ec == std::errc::result_out_of_range)
        return makeStatus(KILN_STATUS_DATA_LOSS,
                          "%s: line %zu, column '%s': '%s' is out of range "
                          "for f32",
                          path, line, columns[c], cell.c_str());
      if (ec != std::errc() || ptr != end)
        return makeStatus(KILN_STATUS_DATA_LOSS,
                          "%s: line %zu, column '%s': cannot read '%s' as a "
                          "number",
                          path, line, columns[c], cell.c_str());
      // from_chars reads "nan" and "inf"; no model can learn from them,
      // and a NaN deep in a file would only show as a NaN loss.
      if (!std::isfinite(value))
        return makeStatus(KILN_STATUS_DATA_LOSS,
                          "%s: line %zu, column '%s': '%s' is not a finite "
                          "number",
                          path, line, columns[c], cell.c_str());
      values.push_back(value);
    }
    ++rows;
  }

  int64_t shape[2] = {rows, static_cast<int64_t>(num_columns)};
  kiln_tensor_t *tensor = nullptr;
  if (kiln_status_t status = allocateTensor(KILN_F32, 2, shape, path, &tensor))
    return status;
  if (!values.empty())
    std::memcpy(tensor->data, values.data(), values.size() * sizeof(float));
  *out = tensor;
  return nullptr;
}
