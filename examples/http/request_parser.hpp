// RequestParser: reads an HTTP/1.x request head (request line and header fields) as it
// arrives, however the reads split it.
//
// The parser consumes complete lines and keeps what it learnt from them, so a head that
// arrives a byte at a time is parsed once, not re-scanned on every read:
//
//   std::string_view rest = received;
//   switch (parser.parse(rest)) {          // advances rest past the lines it consumed
//   case Status::complete: use(parser.request()); parser.reset(); ...  // rest: the body
//   case Status::incomplete: ...            // keep rest (a partial line), read more
//   case Status::bad_request: ...           // 400
//   case Status::too_large: ...             // 431
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace examples::http {

struct Request {
    std::string method;
    std::string target;
    int minor_version = 1;             // HTTP/1.<minor_version>
    bool keep_alive = true;            // from Connection and the version's default
    std::uint64_t content_length = 0;  // body bytes after the head
    bool chunked = false;              // a Transfer-Encoding was given (not supported here)
};

class RequestParser {
public:
    enum class Status { incomplete, complete, bad_request, too_large };

    explicit RequestParser(std::size_t max_head_size) : max_head_size_(max_head_size) {}

    // Consumes whole lines from the front of input and advances it past them.
    Status parse(std::string_view& input);
    // The request whose head parse() reported complete.
    const Request& request() const noexcept { return request_; }
    // Makes ready for the next request on the connection.
    void reset();

private:
    Status request_line(std::string_view line);
    Status header_field(std::string_view line);
    Status end_of_head();

    std::size_t max_head_size_;
    std::size_t head_size_ = 0;  // bytes of the head consumed so far
    bool in_headers_ = false;    // the request line is done
    bool has_host_ = false;
    bool has_length_ = false;
    bool close_ = false, keep_alive_ = false;  // Connection: close / keep-alive seen
    Request request_;
};

}  // namespace examples::http
