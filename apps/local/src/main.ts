import './instrumentation';
import { bootstrap, describeStartupError } from './bootstrap';

bootstrap().catch((error: unknown) => {
  process.stderr.write(`BCTRL could not start: ${describeStartupError(error)}\n`);
  process.exit(1);
});
