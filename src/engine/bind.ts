// Rebinding a step's input for one build (`bind`): `stac-search.positions` ← `ais-import.positions`
// runs the chip chain on an uploaded table, `ais-import.file` ← `file:UPLOAD` feeds it. The binding
// enters the action key through the input's digest like any other input, so caching stays exact.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../sdk/errors.js';
import type { Pipeline, StepInput, StepSpec } from './pipeline.js';

export function bindInputs(pipeline: Pipeline, bindings: Readonly<Record<string, string>> | undefined): Pipeline {
  if (!bindings || Object.keys(bindings).length === 0) return pipeline;
  const steps = new Map(pipeline.steps);
  const rank = new Map(pipeline.order.map((name, i) => [name, i]));
  for (const [target, source] of Object.entries(bindings)) {
    const [stepName, inputName] = target.split('.');
    const step = steps.get(stepName);
    const index = step?.inputs.findIndex((i) => i.name === inputName) ?? -1;
    if (!step || index < 0) throw new UserError('CLI', `bind ${target}: no such step input (STEP.INPUT)`);
    const old = step.inputs[index];
    let input: StepInput;
    if (source.startsWith('file:')) {
      const location = resolve(pipeline.dir, source.slice('file:'.length));
      if (!existsSync(location)) throw new UserError('CLI', `bind ${target}=${source}: the file does not exist`);
      input = { name: old.name, kind: 'file', location, previous: false, optional: false, format: old.kind === 'file' ? old.format : undefined, columns: old.columns };
    } else {
      const [producerName, outputName] = source.split('.');
      const producer = pipeline.steps.get(producerName);
      if (!producer?.outputs.some((o) => o.name === outputName)) throw new UserError('CLI', `bind ${target}=${source}: not a declared step.output`);
      if ((rank.get(producerName) as number) >= (rank.get(stepName) as number)) throw new UserError('CLI', `bind ${target}=${source}: "${producerName}" does not come before "${stepName}" in the pipeline (a binding may not make a cycle)`);
      if (producer.partition && producer.partition !== step.partition) throw new UserError('CLI', `bind ${target}=${source}: "${producerName}" is partitioned by ${producer.partition}, "${stepName}" ${step.partition ? `by ${step.partition}` : 'not at all'}`);
      input = { name: old.name, kind: 'step', step: producerName, output: outputName, previous: false, optional: false, columns: old.columns };
    }
    const inputs = [...step.inputs];
    inputs[index] = input;
    steps.set(stepName, { ...step, inputs } as StepSpec);
  }
  return { ...pipeline, steps, locate: pipeline.locate };
}
