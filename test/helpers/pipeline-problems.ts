// Every problem parsePipeline finds in a pipeline text, as `line:col message` (none: []).
import { parsePipeline } from '../../src/engine/pipeline.js';
import { isUserError, type UserError } from '../../src/sdk/errors.js';

export function pipelineProblems(file: string, text: string): string[] {
  try {
    parsePipeline(text, file);
  } catch (error) {
    if (!isUserError(error)) throw error;
    return (error as UserError).problems.map((p) => `${p.where?.replace(/^.*pipeline\.yaml:/, '')} ${p.message}`);
  }
  return [];
}
