// Steps → instances: one instance per partition value of a partitioned step, each knowing exactly
// the producer instances each input reads. Targets and a partition filter select what a build walks.
import type { Pipeline, StepInput, StepSpec } from './pipeline.js';

export interface Instance {
  readonly id: string;
  readonly step: StepSpec;
  readonly partitionValue?: string;
  readonly partition: Record<string, string>;
  /** Per step input (by input name), exactly the producer instances it reads, in partition order. */
  producers: Map<string, Instance[]>;
  /** Every producer instance, once (a step reading two outputs of one producer depends on it once). */
  deps: Instance[];
}

export function instanceId(step: string, partition: Record<string, string>): string {
  const keys = Object.keys(partition);
  return keys.length === 0 ? step : `${step}[${keys.map((k) => `${k}=${partition[k]}`).join(',')}]`;
}

export interface InstanceSelection {
  /** Steps to build (with what they need); all when empty. */
  readonly targets?: readonly string[];
  readonly partitionFilter?: Readonly<Record<string, string>>;
  /** With a partition filter: also rebuild the unpartitioned steps that read every partition (`--with-fan-in`). */
  readonly withFanIn?: boolean;
}

export function selectInstances(pipeline: Pipeline, options: InstanceSelection): Instance[] {
  const filter = options.partitionFilter ?? {};
  const all = new Map<string, Instance>();
  const make = (step: StepSpec, value: string | undefined): Instance => {
    const partition: Record<string, string> = step.partition && value !== undefined ? { [step.partition]: value } : {};
    const id = instanceId(step.name, partition);
    let instance = all.get(id);
    if (!instance) {
      instance = { id, step, partitionValue: value, partition, producers: new Map(), deps: [] };
      all.set(id, instance);
      for (const input of step.inputs) if (input.kind === 'step') instance.producers.set(input.name, producersOf(instance, input));
      instance.deps = [...new Set([...instance.producers.values()].flat())];
    }
    return instance;
  };
  const producersOf = (instance: Instance, input: StepInput): Instance[] => {
    const producer = pipeline.steps.get(input.step as string) as StepSpec;
    if (input.previous) {
      const values = pipeline.partitions[producer.partition as string];
      const index = positionOf(producer.partition as string, instance.partitionValue as string);
      return index > 0 ? [make(producer, values[index - 1])] : [];
    }
    if (!producer.partition) return [make(producer, undefined)];
    if (instance.step.partition) return [make(producer, instance.partitionValue)];
    return pipeline.partitions[producer.partition].map((value) => make(producer, value));
  };
  // Position of each value in its partition, so `previous: true` stays O(1) per instance at 365+ values.
  const positions = new Map<string, Map<string, number>>();
  const positionOf = (key: string, value: string): number => {
    let map = positions.get(key);
    if (!map) {
      map = new Map(pipeline.partitions[key].map((v, i) => [v, i]));
      positions.set(key, map);
    }
    return map.get(value) ?? -1;
  };
  const targets = options.targets && options.targets.length > 0 ? options.targets : pipeline.order;
  const explicit = new Set(options.targets ?? []);
  const roots: Instance[] = [];
  for (const name of targets) {
    const step = pipeline.steps.get(name) as StepSpec;
    if (step.partition) {
      const values = filter[step.partition] ? [filter[step.partition]] : pipeline.partitions[step.partition];
      for (const value of values) roots.push(make(step, value));
    } else {
      // With a partition filter, an unpartitioned step that fans in over that partition is left out
      // unless named: rebuilding one partition touches that partition's chain only.
      if (!options.withFanIn && Object.keys(filter).length > 0 && !explicit.has(name) && fansInOver(pipeline, step, Object.keys(filter))) continue;
      roots.push(make(step, undefined));
    }
  }
  // Order: pipeline order, then partition order.
  const rank = new Map(pipeline.order.map((n, i) => [n, i]));
  const byValue = (a: string | undefined, b: string | undefined): number => (a === b ? 0 : a === undefined ? -1 : b === undefined ? 1 : a < b ? -1 : 1);
  return [...all.values()].sort((a, b) => (rank.get(a.step.name) as number) - (rank.get(b.step.name) as number) || byValue(a.partitionValue, b.partitionValue));
}

/** The fan-in steps a partition-filtered selection leaves out (they read every partition). */
export function leftOutFanIns(pipeline: Pipeline, options: InstanceSelection): string[] {
  const keys = Object.keys(options.partitionFilter ?? {});
  if (keys.length === 0 || options.withFanIn) return [];
  const targets = options.targets && options.targets.length > 0 ? options.targets : pipeline.order;
  const explicit = new Set(options.targets ?? []);
  return targets.filter((name) => {
    const step = pipeline.steps.get(name) as StepSpec;
    return !step.partition && !explicit.has(name) && fansInOver(pipeline, step, keys);
  });
}

function fansInOver(pipeline: Pipeline, step: StepSpec, keys: string[], seen = new Set<string>()): boolean {
  if (seen.has(step.name)) return false;
  seen.add(step.name);
  for (const input of step.inputs) {
    if (input.kind !== 'step') continue;
    const producer = pipeline.steps.get(input.step as string) as StepSpec;
    if (producer.partition && keys.includes(producer.partition)) return true;
    if (fansInOver(pipeline, producer, keys, seen)) return true;
  }
  return false;
}
