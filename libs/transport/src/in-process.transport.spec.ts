import { InProcessTransport } from './in-process.transport';
import { describeTransportConformance } from './transport.conformance';

describeTransportConformance(
  'in-process',
  () => {
    // One instance plays both sides, as in local mode where every service shares it.
    const transport = new InProcessTransport();
    return { server: transport, client: transport };
  },
  async ({ server }) => {
    await server.close();
  },
);
