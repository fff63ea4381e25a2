// yaml and ajv cost ~0.2 s to load and compile; a no-op build on an unchanged pipeline file needs
// neither (see loadPipeline's memo), so they are loaded on first use.
import { createRequire } from 'node:module';
import type { Ajv as AjvType } from 'ajv';

const requireLazy = createRequire(import.meta.url);
let yamlModule: typeof import('yaml') | undefined;
export const yaml = (): typeof import('yaml') => (yamlModule ??= requireLazy('yaml') as typeof import('yaml'));

let ajvInstance: AjvType | undefined;
export function getAjv(): AjvType {
  if (!ajvInstance) {
    const { Ajv } = requireLazy('ajv') as typeof import('ajv');
    ajvInstance = new Ajv({ allErrors: true, strict: false, verbose: true });
  }
  return ajvInstance;
}
