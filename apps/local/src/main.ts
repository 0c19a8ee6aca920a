import './instrumentation';
import { bootstrap, describeFailure } from './bootstrap';

bootstrap().catch((error: unknown) => {
  process.stderr.write(`BCTRL could not start: ${describeFailure(error)}\n`);
  process.exit(1);
});
