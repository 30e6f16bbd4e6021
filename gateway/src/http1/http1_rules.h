// The request rules RFC 9112 and RFC 9110 make a server enforce before it acts on a request,
// as one pure function over the request head: a verdict and the path to route by. The session
// answers a broken request 400 and closes; the router only ever sees origin-form paths.
#pragma once

#include <ostream>  // Beast's verb.hpp streams without including it
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

namespace h2gate {

struct RequestHead {
  boost::beast::http::verb verb = boost::beast::http::verb::get;
  unsigned version = 11;    // 10 or 11
  std::string_view target;  // the request-target as sent
  int host_fields = 0;      // Host field lines
  std::string_view host;    // the (first) Host value
};

struct RequestVerdict {
  bool ok = false;
  // For ok: the path and query to route by, in origin form ("/a/b?c"; "*" for OPTIONS *).
  std::string_view path;
  // For !ok: why, for the 400's message; names the rule.
  std::string_view why;
};

// The facts of a parsed request that the rules look at; views into `req`.
RequestHead HeadOf(const boost::beast::http::request<boost::beast::http::string_body>& req);

RequestVerdict CheckRequest(const RequestHead& head);

}  // namespace h2gate
