// Runs the CLI with the process's arguments: the entry point bench/gpu-pack.sh bundles and bench/gpu-check.sh runs through
// tsx (bin/streamfit.js does the same for `npx streamfit`; cli/main.ts only exports main, so importing it runs nothing).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
