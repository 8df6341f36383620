// The V8 heap flags this process was started with (bin/streamfit.js sets one), for child processes that should run the same
// way. Only heap sizes are passed on: flags such as --inspect or --test would misbehave in a child.

export function heapFlags(): string[] {
  return process.execArgv.filter((flag) => /^--(initial|max)-(old|semi)-space-size=/.test(flag));
}
