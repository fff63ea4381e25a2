// dagrun/testing: run one step outside the cache, as `dagrun exec` does, for a step's own tests.
export { execStep } from '../engine/exec.js';
