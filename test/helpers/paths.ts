// Paths tests use: the project root and the shared real data beside it (../shared/data).
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const SHARED_DATA = resolve(PROJECT_ROOT, '../shared/data');
export const sharedData = (...parts: string[]): string => resolve(SHARED_DATA, ...parts);
