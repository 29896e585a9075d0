// JsonWriter: just enough JSON for the --json report (objects, arrays, strings, numbers),
// with the commas and string escaping done once, here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace stress {

class JsonWriter {
public:
    JsonWriter& begin_object(std::string_view key = {});
    JsonWriter& end_object();
    JsonWriter& begin_array(std::string_view key);
    JsonWriter& end_array();
    JsonWriter& field(std::string_view key, std::string_view value);
    JsonWriter& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
    JsonWriter& field(std::string_view key, bool value);
    JsonWriter& field(std::string_view key, double value);
    JsonWriter& field(std::string_view key, std::uint64_t value);
    JsonWriter& field(std::string_view key, std::int64_t value);
    JsonWriter& field(std::string_view key, std::uint32_t value) { return field(key, std::uint64_t{value}); }
    JsonWriter& field(std::string_view key, int value) { return field(key, std::int64_t{value}); }
    JsonWriter& null_field(std::string_view key);

    const std::string& str() const noexcept { return out_; }
    static std::string quote(std::string_view s);

private:
    void key(std::string_view k);
    std::string out_;
    int depth_ = 0;
    bool first_ = true;
};

}  // namespace stress
