// dagrun/sdk: everything a step may import. Steps import this (or its modules), lib/, and their own
// files — never src/engine/. The engine imports the contract from here, not the other way round.
export type { Kernel, KernelContext } from './kernel-api.js';
export { StepError, UserError, isUserError, describeError } from './errors.js';
export {
  type TableFormat, type Columns, type Row, PARQUET_ROW_GROUP_SIZE,
  quoteIdent, quoteLiteral, readerFor, Db, withDb, readTable, writeTable, pickColumns,
} from './table-io.js';
export { digestBytes, digestFile, digestJson, canonicalJson, shortDigest } from './hash.js';
export { ItemOutcomes, MAX_FAILED_FRACTION } from './items.js';
export { redactorFor, REDACTED } from './redact.js';
export { seededRandom, gaussian } from './random.js';
export { writeFileAtomic, replaceFile } from './atomic-write.js';
export { startModuleWorker } from './module-worker.js';
export { isUri, projectRelative, projectResolve } from './project-paths.js';
