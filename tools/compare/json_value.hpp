// A small JSON reader for what the stress client prints with --json (Debian has no JSON
// library that fmt-only projects already pull in, and this needs fifty lines of grammar).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace iomux::compare {

struct JsonError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class JsonValue {
public:
    using Array = std::vector<JsonValue>;
    using Object = std::vector<std::pair<std::string, JsonValue>>;

    // The whole text must be one value (surrounding whitespace allowed); JsonError otherwise.
    static JsonValue parse(std::string_view text);

    JsonValue() = default;
    bool is_null() const { return std::holds_alternative<std::nullptr_t>(value_); }
    bool is_number() const { return std::holds_alternative<double>(value_); }
    bool is_string() const { return std::holds_alternative<std::string>(value_); }
    bool is_bool() const { return std::holds_alternative<bool>(value_); }
    bool is_array() const { return std::holds_alternative<Array>(value_); }
    bool is_object() const { return std::holds_alternative<Object>(value_); }

    // Each throws JsonError when the value is of another kind.
    double number() const;
    bool boolean() const;
    const std::string& string() const;
    const Array& array() const;
    const Object& object() const;

    // The member of an object (nullptr when absent or not an object).
    const JsonValue* get(std::string_view key) const;
    // A member path such as "latency_us.p99": nullptr when any step is missing.
    const JsonValue* at_path(std::string_view dotted) const;

private:
    friend class JsonParser;
    using Value = std::variant<std::nullptr_t, bool, double, std::string, Array, Object>;
    explicit JsonValue(Value v) : value_(std::move(v)) {}
    Value value_ = nullptr;
};

}  // namespace iomux::compare
