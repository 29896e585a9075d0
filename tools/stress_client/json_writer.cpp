#include "json_writer.hpp"

#include <cmath>

#include <fmt/format.h>

namespace stress {

std::string JsonWriter::quote(std::string_view s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto u = static_cast<unsigned char>(ch);
        switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (u < 0x20)
                out += fmt::format("\\u{:04x}", u);
            else
                out += ch;
        }
    }
    return out + "\"";
}

void JsonWriter::key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    if (depth_ > 0) {
        out_ += '\n';
        out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
    }
    if (!k.empty()) out_ += quote(k) + ": ";
}

JsonWriter& JsonWriter::begin_object(std::string_view k) {
    key(k);
    out_ += '{';
    ++depth_;
    first_ = true;
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    --depth_;
    if (!first_) {
        out_ += '\n';
        out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
    }
    out_ += '}';
    first_ = false;
    return *this;
}

JsonWriter& JsonWriter::begin_array(std::string_view k) {
    key(k);
    out_ += '[';
    ++depth_;
    first_ = true;
    return *this;
}

JsonWriter& JsonWriter::end_array() {
    --depth_;
    if (!first_) {
        out_ += '\n';
        out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
    }
    out_ += ']';
    first_ = false;
    return *this;
}

JsonWriter& JsonWriter::field(std::string_view k, std::string_view value) {
    key(k);
    out_ += quote(value);
    return *this;
}

JsonWriter& JsonWriter::field(std::string_view k, bool value) {
    key(k);
    out_ += value ? "true" : "false";
    return *this;
}

JsonWriter& JsonWriter::field(std::string_view k, double value) {
    key(k);
    // JSON has no NaN or infinity.
    out_ += std::isfinite(value) ? fmt::format("{:.6g}", value) : std::string("null");
    return *this;
}

JsonWriter& JsonWriter::field(std::string_view k, std::uint64_t value) {
    key(k);
    out_ += fmt::format("{}", value);
    return *this;
}

JsonWriter& JsonWriter::field(std::string_view k, std::int64_t value) {
    key(k);
    out_ += fmt::format("{}", value);
    return *this;
}

JsonWriter& JsonWriter::null_field(std::string_view k) {
    key(k);
    out_ += "null";
    return *this;
}

}  // namespace stress
