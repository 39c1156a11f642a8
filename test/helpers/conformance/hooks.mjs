// The resolve hook of register.mjs: `fs` imported from inside the conformance package is fs-glob.mjs.
const SHIM = new URL('./fs-glob.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  const fromRunner = context.parentURL?.includes('/@modelcontextprotocol/conformance/') ?? false;
  if (fromRunner && (specifier === 'fs' || specifier === 'node:fs')) return { url: SHIM, shortCircuit: true };
  return next(specifier, context);
}
