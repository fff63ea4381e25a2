// A run's id: its start time (sortable) and a random suffix.

export function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('.', '');
  // Only to tell apart runs started in the same millisecond; node:crypto's first use costs ~50 ms.
  const suffix = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  return `${stamp}-${suffix}`;
}
