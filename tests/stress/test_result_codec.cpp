// What a worker process tells its parent (result_codec.hpp), and the merge of runs: every
// figure survives the trip, histograms merge bucket by bucket (so merged percentiles are
// the percentiles of all samples), and a report cut short is refused.
#include <doctest/doctest.h>

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "result_codec.hpp"
#include "run_result.hpp"

using stress::LatencyHistogram;
using stress::RunResult;
using stress::StageResult;

namespace {

RunResult sample_run(std::int64_t from_us, std::int64_t to_us) {
    RunResult r;
    r.mode = "scenario";
    r.conns_requested = 100;
    r.conns_made = 99;
    r.connect_attempts = 104;
    r.connect_wall_s = 0.125;
    r.wall_s = 0.5;
    r.messages_expected = 300;
    r.messages_verified = 297;
    r.bytes_sent = 4554;
    r.bytes_verified = 4554;
    r.abort_reason = "two\nlines";
    StageResult& s = r.stages.emplace_back("message 1", 99, 98, 0.25);
    s.cpu_s = 0.1;
    s.server_cpu_s = 0.0625;
    r.stages.emplace_back("connect", 100, 99, 0.125);
    r.errors.add(stress::ErrorKind::reset, [] { return std::string("connection 7: recv: reset"); });
    r.errors.add(stress::ErrorKind::reset, [] { return std::string("not kept"); });
    for (std::int64_t us = from_us; us <= to_us; ++us) r.latency.record(us * 1000);
    return r;
}

}  // namespace

TEST_CASE("a worker's report survives encode and decode") {
    stress::WorkerReport w;
    w.run = sample_run(1, 1000);
    w.cpu = {0.25, 1.5};
    w.internal_error = "boom";
    const stress::WorkerReport back = stress::decode(stress::encode(w));
    const RunResult& r = back.run;
    CHECK(r.mode == "scenario");
    CHECK(r.conns_requested == 100);
    CHECK(r.conns_made == 99);
    CHECK(r.connect_attempts == 104);
    CHECK(r.connect_wall_s == 0.125);
    CHECK(r.wall_s == 0.5);
    CHECK(r.messages_verified == 297);
    CHECK(r.abort_reason == "two\nlines");  // JSON keeps what the text lines had to flatten
    REQUIRE(r.stages.size() == 2);
    CHECK(r.stages[0].name == "message 1");
    CHECK(r.stages[0].done == 98);
    CHECK(r.stages[0].server_cpu_s == 0.0625);
    CHECK_FALSE(r.stages[1].server_cpu_s.has_value());
    CHECK(r.errors.count(stress::ErrorKind::reset) == 2);
    CHECK(r.errors.first(stress::ErrorKind::reset) == "connection 7: recv: reset");
    CHECK(r.latency.count() == 1000);
    CHECK(r.latency.percentile(50) == w.run.latency.percentile(50));
    CHECK(r.latency.percentile(99.9) == w.run.latency.percentile(99.9));
    CHECK(r.latency.mean() == w.run.latency.mean());
    CHECK(back.cpu.sys_s == 1.5);
    CHECK(back.internal_error == "boom");
}

TEST_CASE("a report cut short, or garbage, is refused") {
    stress::WorkerReport w;
    w.run = sample_run(1, 10);
    const std::string text = stress::encode(w);
    CHECK_THROWS_AS(stress::decode(text.substr(0, text.size() / 2)), std::invalid_argument);
    CHECK_THROWS_AS(stress::decode(""), std::invalid_argument);
    CHECK_THROWS_AS(stress::decode("conns x y z\nend\n"), std::invalid_argument);
    nlohmann::json partial = nlohmann::json::parse(text);
    partial.at("run").erase("conns_made");
    CHECK_THROWS_AS(stress::decode(partial.dump()), std::invalid_argument);
    nlohmann::json bad_bucket = nlohmann::json::parse(text);
    bad_bucket["run"]["latency"]["buckets"] = {{999999, 1}};
    CHECK_THROWS_AS(stress::decode(bad_bucket.dump()), std::invalid_argument);
}

TEST_CASE("merging runs: counts add, histograms merge (not percentiles), times are the longest") {
    RunResult total;
    const RunResult low = sample_run(1, 1000), high = sample_run(1001, 4000);
    stress::merge_into(total, low);
    stress::merge_into(total, high);
    CHECK(total.conns_requested == 200);
    CHECK(total.messages_verified == 594);
    CHECK(total.errors.count(stress::ErrorKind::reset) == 4);
    CHECK(total.wall_s == 0.5);
    REQUIRE(total.stages.size() == 2);
    CHECK(total.stages[0].expected == 198);
    CHECK(total.stages[0].cpu_s == doctest::Approx(0.2));
    CHECK(total.latency.count() == 4000);
    // All samples 1..4000 us: the median is 2000 us, which neither part's median is.
    CHECK(total.latency.percentile(50) == doctest::Approx(2000e3).epsilon(0.02));
    CHECK(total.latency.percentile(99) == doctest::Approx(3960e3).epsilon(0.02));
    CHECK(total.latency.min() == 1000);
    CHECK(total.latency.max() == 4000'000);
}
