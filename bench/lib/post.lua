-- wrk request for the HTTP/1.1 comparison: the legacy JSON call a gRPC path answers with 426.
wrk.method = "POST"
wrk.body = '{"message":"hi"}'
wrk.headers["Content-Type"] = "application/json"
