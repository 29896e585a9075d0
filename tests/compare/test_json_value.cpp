// The JSON reader iomux_compare uses for the stress client's report.
#include <doctest/doctest.h>

#include "json_value.hpp"

using iomux::compare::JsonError;
using iomux::compare::JsonValue;

TEST_CASE("json: nested objects, arrays, numbers, strings, literals") {
    const JsonValue v = JsonValue::parse(R"( {"a": {"b": [1, 2.5e3, -3]}, "s": "x\"y\\n\u0041", "t": true, "n": null} )");
    REQUIRE(v.is_object());
    const JsonValue* b = v.at_path("a.b");
    REQUIRE(b);
    REQUIRE(b->array().size() == 3);
    CHECK(b->array()[1].number() == 2500);
    CHECK(b->array()[2].number() == -3);
    CHECK(v.get("s")->string() == "x\"y\\nA");
    CHECK(v.get("t")->boolean());
    CHECK(v.get("n")->is_null());
    CHECK(v.at_path("a.missing") == nullptr);
    CHECK(v.at_path("s.deeper") == nullptr);
}

TEST_CASE("json: malformed input is an error, not a guess") {
    CHECK_THROWS_AS(JsonValue::parse(""), JsonError);
    CHECK_THROWS_AS(JsonValue::parse("{\"a\": 1"), JsonError);
    CHECK_THROWS_AS(JsonValue::parse("{\"a\": 1} extra"), JsonError);
    CHECK_THROWS_AS(JsonValue::parse("[1, 2,]"), JsonError);
    CHECK_THROWS_AS(JsonValue::parse("\"open"), JsonError);
    CHECK_THROWS_AS(JsonValue::parse(std::string(100, '[') + std::string(100, ']')), JsonError);
    CHECK_THROWS_AS(JsonValue::parse("1").string(), JsonError);
}
