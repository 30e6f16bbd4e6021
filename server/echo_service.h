// The demo service, echo.v1.Echo, on gRPC's callback API: no thread is held while a stream waits.
#pragma once

#include "echo/v1/echo.grpc.pb.h"

namespace h2gate::demo {

class EchoService final : public echo::v1::Echo::CallbackService {
 public:
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const echo::v1::EchoRequest* request,
                                 echo::v1::EchoResponse* response) override;
  grpc::ServerWriteReactor<echo::v1::EchoResponse>* ServerStream(
      grpc::CallbackServerContext* context, const echo::v1::StreamRequest* request) override;
  grpc::ServerReadReactor<echo::v1::EchoRequest>* ClientStream(
      grpc::CallbackServerContext* context, echo::v1::EchoResponse* response) override;
  grpc::ServerBidiReactor<echo::v1::EchoRequest, echo::v1::EchoResponse>* BidiStream(
      grpc::CallbackServerContext* context) override;
};

}  // namespace h2gate::demo
