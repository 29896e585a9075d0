// The table must not let a reader rank rows that its runs cannot tell apart.
#include <doctest/doctest.h>

#include "formats.hpp"

using namespace iomux::compare;

TEST_CASE("a ratio whose row's min-max meets the bare row's is marked, and overlapping rows are named") {
    Report report;
    const Params params{{"n", "100"}};
    report.row("dispatch", params, "bare-epoll").figure("loop_us", "loop").samples = {100, 110, 120};
    report.row("dispatch", params, "epoll").figure("loop_us", "loop").samples = {115, 125, 130};  // meets bare's
    report.row("dispatch", params, "poll").figure("loop_us", "loop").samples = {200, 210, 220};   // apart
    const std::string table = format_table(report);
    INFO(table);
    CHECK(table.find("1.14~") != std::string::npos);
    CHECK(table.find("1.91~") == std::string::npos);
    CHECK(table.find("1.91") != std::string::npos);
    CHECK(table.find("loop: min-max ranges overlap, each with the next: bare-epoll = epoll\n") != std::string::npos);
    // One run has no range: nothing to mark.
    Report single;
    single.row("dispatch", params, "bare-epoll").figure("loop_us", "loop").samples = {100};
    single.row("dispatch", params, "epoll").figure("loop_us", "loop").samples = {100};
    CHECK(format_table(single).find('~') == std::string::npos);
}
