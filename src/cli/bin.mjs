#!/usr/bin/env node
// Runs the inlet command from a checkout (package.json "bin"): the TypeScript source through tsx,
// so `npx inlet` needs no build step. The standalone bundle is dist/inlet.mjs.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
