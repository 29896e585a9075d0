#include "json_value.hpp"

#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

namespace iomux::compare {

class JsonParser {
public:
    explicit JsonParser(std::string_view text) : text_(text) {}

    JsonValue document() {
        JsonValue v = value(0);
        skip_space();
        if (pos_ != text_.size()) error("trailing characters");
        return v;
    }

private:
    // Deep enough for any report, shallow enough that hostile input cannot blow the stack.
    static constexpr int kMaxDepth = 64;

    [[noreturn]] void error(std::string_view what) const {
        throw JsonError(fmt::format("JSON: {} at offset {}", what, pos_));
    }
    void skip_space() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }
    char peek() {
        skip_space();
        if (pos_ >= text_.size()) error("unexpected end");
        return text_[pos_];
    }
    void expect(char c) {
        if (peek() != c) error(fmt::format("expected '{}'", c));
        ++pos_;
    }
    bool literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    JsonValue value(int depth) {
        if (depth > kMaxDepth) error("nesting too deep");
        const char c = peek();
        if (c == '{') return JsonValue(object(depth));
        if (c == '[') return JsonValue(array(depth));
        if (c == '"') return JsonValue(string());
        if (literal("true")) return JsonValue(true);
        if (literal("false")) return JsonValue(false);
        if (literal("null")) return JsonValue(nullptr);
        return JsonValue(number());
    }

    JsonValue::Object object(int depth) {
        JsonValue::Object members;
        expect('{');
        if (peek() == '}') {
            ++pos_;
            return members;
        }
        for (;;) {
            if (peek() != '"') error("expected a member name");
            std::string key = string();
            expect(':');
            members.emplace_back(std::move(key), value(depth + 1));
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect('}');
            return members;
        }
    }

    JsonValue::Array array(int depth) {
        JsonValue::Array items;
        expect('[');
        if (peek() == ']') {
            ++pos_;
            return items;
        }
        for (;;) {
            items.push_back(value(depth + 1));
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect(']');
            return items;
        }
    }

    std::string string() {
        expect('"');
        std::string out;
        while (pos_ < text_.size()) {
            const char c = text_[pos_++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) break;
            const char e = text_[pos_++];
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'u': {
                    if (pos_ + 4 > text_.size()) error("short \\u escape");
                    const unsigned long cp = std::strtoul(std::string(text_.substr(pos_, 4)).c_str(), nullptr, 16);
                    pos_ += 4;
                    // Numbers and names are ASCII; anything else is kept as UTF-8 (no surrogate pairs).
                    if (cp < 0x80) {
                        out += static_cast<char>(cp);
                    } else if (cp < 0x800) {
                        out += static_cast<char>(0xC0 | (cp >> 6));
                        out += static_cast<char>(0x80 | (cp & 0x3F));
                    } else {
                        out += static_cast<char>(0xE0 | (cp >> 12));
                        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                        out += static_cast<char>(0x80 | (cp & 0x3F));
                    }
                    break;
                }
                default: out += e;  // \" \\ \/
            }
        }
        error("unterminated string");
    }

    double number() {
        const std::size_t start = pos_;
        while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) ||
                                       std::string_view("+-.eE").find(text_[pos_]) != std::string_view::npos))
            ++pos_;
        if (pos_ == start) error("unexpected character");
        const std::string digits(text_.substr(start, pos_ - start));
        char* end = nullptr;
        const double v = std::strtod(digits.c_str(), &end);
        if (end != digits.c_str() + digits.size()) error("bad number");
        return v;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

JsonValue JsonValue::parse(std::string_view text) {
    return JsonParser(text).document();
}

namespace {
template <class T, class V>
const T& as(const V& v, const char* kind) {
    if (const T* p = std::get_if<T>(&v)) return *p;
    throw JsonError(fmt::format("JSON: not a {}", kind));
}
}  // namespace

double JsonValue::number() const { return as<double>(value_, "number"); }
bool JsonValue::boolean() const { return as<bool>(value_, "boolean"); }
const std::string& JsonValue::string() const { return as<std::string>(value_, "string"); }
const JsonValue::Array& JsonValue::array() const { return as<Array>(value_, "array"); }
const JsonValue::Object& JsonValue::object() const { return as<Object>(value_, "object"); }

const JsonValue* JsonValue::get(std::string_view key) const {
    const Object* members = std::get_if<Object>(&value_);
    if (!members) return nullptr;
    for (const auto& [k, v] : *members)
        if (k == key) return &v;
    return nullptr;
}

const JsonValue* JsonValue::at_path(std::string_view dotted) const {
    const JsonValue* v = this;
    while (v && !dotted.empty()) {
        const auto dot = dotted.find('.');
        v = v->get(dotted.substr(0, dot));
        dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
    }
    return v;
}

}  // namespace iomux::compare
