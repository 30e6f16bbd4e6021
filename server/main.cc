// h2gate with the demo echo.v1.Echo service: the same few lines a user's own main needs.
#include "echo_service.h"
#include "h2gate/gateway.h"

int main(int argc, char** argv) {
  h2gate::BlockShutdownSignals();  // before gRPC or any other thread starts
  const h2gate::Options options = h2gate::ParseOptionsOrExit(argc, argv);
  h2gate::demo::EchoService echo;
  h2gate::Gateway gateway(options);
  gateway.RegisterService(&echo);
  return gateway.Run();
}
