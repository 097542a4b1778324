#!/usr/bin/env node
// The CLI runs the TypeScript sources through tsx, so `npx cmcrd` and `npm start` never see a stale build.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
