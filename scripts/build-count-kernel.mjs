// Compiles src/server/preview/count-kernel.wat and writes the binary, base64-encoded, to
// src/server/preview/count-kernel-wasm.ts. The binary is committed so that neither the server nor
// its bundle needs wabt; test/unit/count-kernel.test.ts checks that it matches the .wat source.
// Usage: node scripts/build-count-kernel.mjs [--check]   (--check exits 1 when the file is stale)
import fs from 'node:fs';
import path from 'node:path';

import { compileCountKernel, KERNEL_TS_PATH, renderKernelModule } from './count-kernel-source.mjs';

const root = path.join(import.meta.dirname, '..');
const target = path.join(root, KERNEL_TS_PATH);
const expected = renderKernelModule(await compileCountKernel(root));

if (process.argv.includes('--check')) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (current !== expected) {
    console.error(`${KERNEL_TS_PATH} does not match the .wat source; run node scripts/build-count-kernel.mjs`);
    process.exit(1);
  }
  console.log(`${KERNEL_TS_PATH} matches the .wat source`);
} else {
  fs.writeFileSync(target, expected);
  console.log(`wrote ${KERNEL_TS_PATH}`);
}
