// `dagrun schedule list|run|log`: the scheduler's decisions, computed (list), one fire now (run), and
// the ingestion log per schedule (log).
import { UserError } from '../../sdk/errors.js';
import type { EventSink } from '../events/types.js';
import { Scheduler } from './scheduler.js';

export interface CommandContext {
  readonly pipelineFile: string;
  readonly cacheDir?: string;
  readonly json: boolean;
  readonly events?: EventSink;
  readonly jobs?: number;
  readonly print: (human: string, document: unknown) => void;
}

export async function scheduleCommand(args: readonly string[], ctx: CommandContext): Promise<number> {
  const [sub, name] = args;
  const scheduler = new Scheduler({ pipelineFile: ctx.pipelineFile, cacheDir: ctx.cacheDir, onEvent: ctx.events, jobs: ctx.jobs });
  switch (sub) {
    case 'list': {
      const list = await scheduler.list();
      ctx.print(
        list.length === 0
          ? 'no schedules declared (add `schedules:` to the pipeline file)'
          : list.map((s) => [
            `${s.name}${s.enabled ? '' : ' (off)'} — ${s.trigger}; builds ${s.targets.join(', ')}${Object.keys(s.partition).length ? ` on ${Object.entries(s.partition).map(([k, v]) => `${k}=${v}`).join(',')}` : ''}; catch_up ${s.catch_up}`,
            ...(s.next.length ? s.next.map((f) => `    next ${f.at}${Object.keys(f.partition).length ? `  ${Object.entries(f.partition).map(([k, v]) => `${k}=${v}`).join(',')}` : ''}${f.window?.end ? `  window to ${f.window.end}` : ''}`) : ['    next: none (no upcoming window)']),
          ].join('\n')).join('\n'),
        list,
      );
      return 0;
    }
    case 'run': {
      if (!name) throw new UserError('CLI', 'usage: dagrun schedule run NAME');
      const entry = await scheduler.runNow(name);
      ctx.print(`${entry.schedule} fired at ${entry.fire_at} on ${JSON.stringify(entry.partition)}: ${entry.status}${entry.counts ? ` (${entry.counts.built} built, ${entry.counts.cached} cached, ${entry.counts.failed} failed, ${entry.counts.skipped} skipped)` : ''}${entry.error ? ` — ${entry.error}` : ''}${entry.run_id ? ` — run ${entry.run_id}` : ''}`, entry);
      return entry.status === 'ok' ? 0 : 1;
    }
    case 'log': {
      if (name) scheduler.spec(name);
      const entries = scheduler.log(name);
      ctx.print(entries.length === 0 ? 'no fires yet' : entries.map((e) => `${e.fire_at}  ${e.schedule.padEnd(18)} ${e.status.padEnd(6)} ${JSON.stringify(e.partition)}  ${e.run_id ?? ''}${e.error ? `  ${e.error}` : ''}`).join('\n'), entries);
      return 0;
    }
    default:
      throw new UserError('CLI', `usage: dagrun schedule list|run NAME|log [NAME] (not "${sub ?? ''}")`);
  }
}
