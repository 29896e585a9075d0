// The three ways a Report is written out: an aligned table for people, JSON and CSV for
// machines. Every figure comes with its ratio to the bare-epoll row of the same case.
#pragma once

#include <string>

#include "report.hpp"

namespace iomux::compare {

std::string format_table(const Report& report);  // table.cpp
std::string format_json(const Report& report);   // json_output.cpp
std::string format_csv(const Report& report);    // csv_output.cpp

// Shared by the writers: a figure's value with as many digits as it deserves.
std::string format_number(double value);

}  // namespace iomux::compare
