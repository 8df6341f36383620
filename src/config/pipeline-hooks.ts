// Module hooks (node:module register) for pipeline files: a `.ts` pipeline outside a `"type": "module"` package would be
// loaded as CommonJS, and fail; it and the `.ts` files it imports are loaded as ES modules instead. `import … from 'streamfit'`
// resolves to the running streamfit, wherever the file is, so a pipeline uses the same stages and engine as the command.

interface HookData {
  /** URL of streamfit's index.ts. */
  index: string;
}

interface Resolved {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}

type NextResolve = (specifier: string, context: { parentURL?: string }) => Promise<Resolved>;

/** The query that marks a pipeline file's URL (added by importPipelineModule). */
const pipelineQuery = 'streamfit-pipeline';
const typescript = /\.(ts|tsx|mts)$/;
let index = '';
/** Files loaded as ES modules because a pipeline file (or one of its imports) imported them. */
const forced = new Set<string>();

export function initialize(data: HookData): void {
  index = data.index;
}

export async function resolve(specifier: string, context: { parentURL?: string }, nextResolve: NextResolve): Promise<Resolved> {
  if (specifier === 'streamfit') return { url: index, format: 'module', shortCircuit: true };
  const resolved = await nextResolve(specifier, context);
  const url = new URL(resolved.url);
  const isPipeline = url.searchParams.has(pipelineQuery);
  const fromPipeline = context.parentURL !== undefined && forced.has(context.parentURL);
  if ((isPipeline || fromPipeline) && url.protocol === 'file:' && typescript.test(url.pathname) && resolved.format !== 'module') {
    forced.add(resolved.url);
    return { ...resolved, format: 'module' };
  }
  if (isPipeline) forced.add(resolved.url);
  return resolved;
}
