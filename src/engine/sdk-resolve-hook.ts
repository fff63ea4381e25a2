// Module resolve hook for kernel workers: `dagrun/sdk` and `dagrun/testing` resolve to the running
// engine's own modules when the kernel's project cannot resolve them itself (dagrun installed
// globally, or a folder made by `dagrun init` before `npm install`). A project that has dagrun
// installed resolves its own copy first.
import type { ResolveHook } from 'node:module';

let targets: Record<string, string> = {};

export function initialize(data: { targets: Record<string, string> }): void {
  targets = data.targets;
}

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const target = targets[specifier];
    if (!target) throw error;
    return { url: target, format: 'module', shortCircuit: true };
  }
};
