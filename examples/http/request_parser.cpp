#include "http/request_parser.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace examples::http {
namespace {

using Status = RequestParser::Status;

// The parser runs for every request, so the per-character tests are table lookups, not
// calls into <cctype> and string searches (those were most of its cost).
enum : unsigned char { kTcharBit = 1, kCtlBit = 2 };
constexpr std::array<unsigned char, 256> kClass = [] {
    std::array<unsigned char, 256> table{};
    // RFC 9110 token characters: what methods and header names are made of.
    for (int c = '0'; c <= '9'; ++c) table[c] = kTcharBit;
    for (int c = 'a'; c <= 'z'; ++c) table[c] = table[c - 'a' + 'A'] = kTcharBit;
    for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) table[c] = kTcharBit;
    // Control characters other than tab are never valid in a head; a bare CR is a classic
    // request-smuggling trick.
    for (int c = 0; c < 0x20; ++c) table[c] = c == '\t' ? 0 : kCtlBit;
    table[0x7f] = kCtlBit;
    return table;
}();

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (!(kClass[static_cast<unsigned char>(c)] & kTcharBit)) return false;
    }
    return true;
}

bool has_ctl_bytes(std::string_view s) {
    for (char c : s) {
        if (kClass[static_cast<unsigned char>(c)] & kCtlBit) return true;
    }
    return false;
}

// Every byte of a head goes through this, so it looks at 8 at a time: a word with no byte
// below 0x20 and none equal to 0x7f (nearly every word) is passed in a few operations, and
// only a word that may have one is looked at byte by byte (a tab is allowed, and the test
// can flag a byte next to a real match, never one in a word without any).
bool has_ctl(std::string_view s) {
    if (s.size() < 8) return has_ctl_bytes(s);
    constexpr std::uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;
    const auto suspect = [&](std::size_t at) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + at, 8);
        const std::uint64_t del = w ^ (kOnes * 0x7f);
        return ((((w - kOnes * 0x20) & ~w) | ((del - kOnes) & ~del)) & kHighs) != 0 && has_ctl_bytes(s.substr(at, 8));
    };
    for (std::size_t at = 0; at + 8 < s.size(); at += 8) {
        if (suspect(at)) return true;
    }
    return suspect(s.size() - 8);  // the last 8 bytes, overlapping the words before
}

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// b is lower case.
bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != b[i]) return false;
    }
    return true;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace

void RequestParser::reset() {
    // Field by field rather than from a new parser: the strings keep their memory.
    head_size_ = 0;
    in_headers_ = has_host_ = has_length_ = close_ = keep_alive_ = false;
    request_.method.clear();
    request_.target.clear();
    request_.minor_version = 1;
    request_.keep_alive = true;
    request_.content_length = 0;
    request_.chunked = false;
}

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
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9')
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

    if (iequals(name, "host")) {
        if (has_host_) return Status::bad_request;
        has_host_ = true;
    } else if (iequals(name, "content-length")) {
        std::uint64_t n = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || end != value.data() + value.size() || value.empty()) return Status::bad_request;
        // Two different lengths would let a proxy and this server disagree on where the
        // next request starts.
        if (has_length_ && n != request_.content_length) return Status::bad_request;
        has_length_ = true;
        request_.content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
        request_.chunked = true;
    } else if (iequals(name, "connection")) {
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
