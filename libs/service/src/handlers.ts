import type { DescMessage } from '@bufbuild/protobuf';
import type { RpcMethod } from '@bctrl/contracts';
import type { Closable, Handler, Transport } from '@bctrl/transport';

export interface HandlerBinding {
  bind(transport: Transport): Closable;
}

/** Pairs a contract method with the function that answers it, keeping request and response types tied. */
export function handle<Req extends DescMessage, Res extends DescMessage>(
  method: RpcMethod<Req, Res>,
  handler: Handler<Req, Res>,
): HandlerBinding {
  return { bind: (transport) => transport.serve(method, handler) };
}

export function bindHandlers(transport: Transport, bindings: HandlerBinding[]): Closable {
  const subscriptions = bindings.map((binding) => binding.bind(transport));
  return {
    close: async () => {
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
    },
  };
}
