#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "common/child_process.hpp"
#include "formats.hpp"

namespace iomux::compare {
namespace {

// gnuplot single-quoted strings escape a quote by doubling it.
std::string gp_quote(std::string_view s) {
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + '\'';
}

struct Point {
    double n;
    Summary loop, total;
};

// Colours that stay apart on white (gnuplot's default yellow does not).
constexpr std::string_view kColours[] = {"#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#1f78b4"};

}  // namespace

std::string plot_dispatch(const Report& report, const std::string& svg_path) {
    // One series per backend (and per active/writes setting, when several were swept).
    std::map<std::string, std::vector<Point>> series;
    std::vector<std::string> order;
    std::vector<std::string> settings;
    for (const Row& r : report.rows) {
        if (r.workload != "dispatch") continue;
        const std::string setting = fmt::format("active={} writes={}", r.param("active").value_or("?"), r.param("writes").value_or("?"));
        if (std::find(settings.begin(), settings.end(), setting) == settings.end()) settings.push_back(setting);
    }
    double lo = 0, hi = 0;
    for (const Row& r : report.rows) {
        const Figure* loop = r.find("loop_us");
        const Figure* total = r.find("total_us");
        const auto n = r.param("n");
        if (r.workload != "dispatch" || !loop || loop->samples.empty() || !total || total->samples.empty() || !n) continue;
        std::string name = r.backend;
        if (settings.size() > 1) name += fmt::format(" (active={} writes={})", r.param("active").value_or("?"), r.param("writes").value_or("?"));
        if (!series.count(name)) order.push_back(name);
        const Point p{std::stod(*n), loop->summary(), total->summary()};
        series[name].push_back(p);
        lo = lo == 0 ? p.loop.min : std::min(lo, p.loop.min);
        hi = std::max(hi, p.total.max);
    }
    if (series.empty()) return "--plot: no dispatch results to draw (run the dispatch workload)";

    const auto gnuplot = tools::find_on_path("gnuplot");
    if (!gnuplot)
        return fmt::format("--plot: gnuplot is not installed, so {} was not drawn (Debian: apt-get install gnuplot-nox); "
                           "the figures above are complete", svg_path);

    std::string script;
    script += "set terminal svg size 1200,560 dynamic noenhanced font 'sans,12' background rgb 'white'\n";
    script += fmt::format("set output {}\n", gp_quote(svg_path));
    script += "set logscale xy\nset format x '%g'\nset format y '%g'\n";
    // The same y range in both panels, so that the eye compares loop and total directly.
    script += fmt::format("set yrange [{}:{}]\n", lo / 1.5, hi * 1.5);
    // Log axes over a decade or two get one label from gnuplot: add 2 and 5 of each decade.
    std::string tics;
    for (double decade = 1; decade <= 1e8; decade *= 10)
        for (const double m : {1.0, 2.0, 5.0}) tics += fmt::format("{}{:g}", tics.empty() ? "" : ", ", m * decade);
    script += fmt::format("set ytics ({})\n", tics);
    script += "set grid xtics ytics mxtics mytics lc rgb '#dddddd'\nset key top left box opaque\n";
    script += "set style data yerrorlines\nset pointsize 0.8\nset xlabel 'socket pairs (N)'\n";
    for (std::size_t i = 0; i < order.size(); ++i) {
        auto& points = series[order[i]];
        std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.n < b.n; });
        script += fmt::format("$d{} << EOD\n", i);
        for (const Point& p : points)
            script += fmt::format("{} {} {} {} {} {} {}\n", p.n, p.loop.median, p.loop.min, p.loop.max, p.total.median,
                                  p.total.min, p.total.max);
        script += "EOD\n";
    }
    script += fmt::format("set multiplot layout 1,2 title {}\n",
                          gp_quote(fmt::format("iomux dispatch (libevent test/bench.c method), {}; median and min-max",
                                               settings.size() == 1 ? settings.front() : std::string("several settings"))));
    const auto panel = [&](std::string_view title, int column) {
        std::string out = fmt::format("set title {}\nset ylabel 'microseconds per round'\nplot ", gp_quote(title));
        std::size_t colour = 0;
        for (std::size_t i = 0; i < order.size(); ++i) {
            // The bare loop is the reference: black and dashed, so the eye finds it.
            const bool bare = order[i].rfind(std::string(kBareEpoll), 0) == 0;
            const std::string style = bare ? "lc rgb 'black' dt 2 pt 6"
                                           : fmt::format("lc rgb '{}' pt {}", kColours[colour % std::size(kColours)], 5 + 2 * (colour % 4));
            if (!bare) ++colour;
            out += fmt::format("{}$d{} using 1:{}:{}:{} title {} lw 2 {}", i ? ", " : "", i, column, column + 1, column + 2,
                               gp_quote(order[i]), style);
        }
        return out + "\n";
    };
    script += panel("loop: time per round, set-up excluded", 2);
    script += panel("total: with every watcher removed and added again", 5);
    script += "unset multiplot\n";

    const auto script_path = std::filesystem::temp_directory_path() / fmt::format("iomux_compare_plot_{}.gp", ::getpid());
    if (!(std::ofstream(script_path) << script)) return "--plot: could not write the gnuplot script to " + script_path.string();
    tools::ChildProcess gp({*gnuplot, script_path.string()}, tools::SpawnOptions{std::nullopt, true, true});
    const auto output = gp.collect(std::chrono::seconds(30));
    const int status = gp.wait(std::chrono::seconds(5));
    std::error_code ec;
    std::filesystem::remove(script_path, ec);
    if (status != 0 || !std::filesystem::exists(svg_path, ec))
        return fmt::format("--plot: gnuplot failed (exit {}): {}", status, output.err.empty() ? output.out : output.err);
    return "chart written to " + svg_path;
}

}  // namespace iomux::compare
