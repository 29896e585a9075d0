#include "http/request_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace examples::http {
namespace {

using Status = RequestParser::Status;

// RFC 9110 token characters: what methods and header names are made of.
bool is_tchar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// Control characters other than tab are never valid in a head; a bare CR is a classic
// request-smuggling trick.
bool has_ctl(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
    });
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

}  // namespace

void RequestParser::reset() { *this = RequestParser(max_head_size_); }

Status RequestParser::parse(std::string_view& input) {
    for (;;) {
        const auto eol = input.find('\n');
        if (eol == std::string_view::npos) {
            // No complete line yet; refuse to buffer a head that is already too long.
            return head_size_ + input.size() > max_head_size_ ? Status::too_large : Status::incomplete;
        }
        head_size_ += eol + 1;
        if (head_size_ > max_head_size_) return Status::too_large;
        std::string_view line = input.substr(0, eol);
        input.remove_prefix(eol + 1);
        // Lines end in CRLF; a bare LF is accepted too, as RFC 9112 allows.
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

        Status status = Status::incomplete;
        if (!in_headers_) {
            // Empty lines before a request line are skipped (RFC 9112 section 2.2): some
            // clients send an extra CRLF after a body.
            if (!line.empty()) status = request_line(line);
        } else if (line.empty()) {
            status = end_of_head();
        } else {
            status = header_field(line);
        }
        if (status != Status::incomplete) return status;
    }
}

Status RequestParser::request_line(std::string_view line) {
    // method SP request-target SP HTTP-version, with exactly one space each.
    const auto sp1 = line.find(' ');
    const auto sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2 || has_ctl(line)) return Status::bad_request;
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!is_token(method) || target.empty() || target.find(' ') != std::string_view::npos)
        return Status::bad_request;
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || !std::isdigit(static_cast<unsigned char>(version[7])))
        return Status::bad_request;
    request_.method = method;
    request_.target = target;
    request_.minor_version = version[7] - '0';
    in_headers_ = true;
    return Status::incomplete;
}

Status RequestParser::header_field(std::string_view line) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return Status::bad_request;
    // No whitespace is allowed before the colon; a line starting with whitespace is an
    // obsolete continuation line. Both are refused (RFC 9112 section 5).
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (!is_token(name) || has_ctl(value)) return Status::bad_request;

    if (iequals(name, "Host")) {
        if (has_host_) return Status::bad_request;
        has_host_ = true;
    } else if (iequals(name, "Content-Length")) {
        std::uint64_t n = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || end != value.data() + value.size() || value.empty()) return Status::bad_request;
        // Two different lengths would let a proxy and this server disagree on where the
        // next request starts.
        if (has_length_ && n != request_.content_length) return Status::bad_request;
        has_length_ = true;
        request_.content_length = n;
    } else if (iequals(name, "Transfer-Encoding")) {
        request_.chunked = true;
    } else if (iequals(name, "Connection")) {
        // A comma-separated list of options, e.g. "keep-alive, Upgrade".
        std::string_view rest = value;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string_view option = trim(rest.substr(0, comma));
            close_ = close_ || iequals(option, "close");
            keep_alive_ = keep_alive_ || iequals(option, "keep-alive");
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    return Status::incomplete;
}

Status RequestParser::end_of_head() {
    // HTTP/1.1 requires Host; a length and a transfer coding together are ambiguous.
    if ((request_.minor_version >= 1 && !has_host_) || (request_.chunked && has_length_)) return Status::bad_request;
    // HTTP/1.1 keeps the connection open unless asked not to; HTTP/1.0 closes it unless asked.
    request_.keep_alive = !close_ && (request_.minor_version >= 1 || keep_alive_);
    return Status::complete;
}

}  // namespace examples::http
