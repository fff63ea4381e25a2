// Per-item outcomes for kernels that process a list of items (chips, STAC items, scenes): each item
// is reported as done or failed, and the step fails when every item failed, or more of them than the
// step's `max_failed_fraction` param allows, naming the first reasons. Without it a step whose every
// chip failed reported `built`, and the failure surfaced later as an unrelated error downstream.

/** The param a step declares to tolerate some failed items (0 … 1); without it only "all failed" fails the step. */
export const MAX_FAILED_FRACTION = 'max_failed_fraction';
/** Reasons kept (and named in the failure sentence). */
const FIRST_REASONS = 5;

export class ItemOutcomes {
  done = 0;
  failed = 0;
  readonly firstReasons: string[] = [];

  succeeded(count = 1): void {
    this.done += count;
  }

  fail(item: string, reason: string): void {
    this.failed += 1;
    if (this.firstReasons.length < FIRST_REASONS) this.firstReasons.push(`${item}: ${reason}`);
  }

  get total(): number {
    return this.done + this.failed;
  }

  /** Why the step fails, or undefined when its failed items are within what it tolerates. */
  verdict(maxFailedFraction: number | undefined): string | undefined {
    if (this.failed === 0) return undefined;
    const first = `first: ${this.firstReasons.join('; ')}${this.failed > this.firstReasons.length ? '; …' : ''}`;
    if (this.done === 0) return `all ${this.failed} item(s) failed; ${first}`;
    if (maxFailedFraction !== undefined && this.failed / this.total > maxFailedFraction) {
      return `${this.failed} of ${this.total} items failed (${((100 * this.failed) / this.total).toFixed(1)} %), more than ${MAX_FAILED_FRACTION} ${maxFailedFraction} allows; ${first}`;
    }
    return undefined;
  }
}
