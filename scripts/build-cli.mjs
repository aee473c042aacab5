// Bundles the inlet command into one file, dist/inlet.mjs, that runs with nothing but Node 20+.
// Every package is bundled in. The admin commands need the server's native SQLite module and data
// dir, so a stub that explains where to run them takes their place.
import fs from 'node:fs';
import path from 'node:path';

import { build } from 'esbuild';

const adminStub = {
  name: 'admin-stub',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^\.\/admin$/ }, (args) =>
      args.importer.endsWith('admin-entry.ts') ? { path: 'admin-stub', namespace: 'admin-stub' } : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'admin-stub' }, () => ({
      contents: `
        import { CommandError } from './common';
        export async function runAdmin() {
          throw new CommandError('The admin commands are not part of the standalone inlet.mjs; run "npx inlet admin ..." from a checkout on the server host, with the server\\'s INLET_DATA_DIR.', 'ADMIN_UNAVAILABLE');
        }`,
      resolveDir: path.resolve('src/cli'),
      loader: 'ts',
    }));
  },
};

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/inlet.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS packages inside an ES module bundle need a real require for Node's built-in modules.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __inletCreateRequire } from 'node:module';\nconst require = __inletCreateRequire(import.meta.url);" },
  plugins: [adminStub],
  legalComments: 'eof',
  logLevel: 'warning',
});

fs.chmodSync('dist/inlet.mjs', 0o755);
