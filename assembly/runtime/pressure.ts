// Allocation pressure for the minimal runtime's collector: large allocations (host data copied in,
// growing buffers) are counted here, and the exports collect at the end of a callback once enough
// has been allocated — so big bodies are reclaimed after a few requests, not after dozens.

/** Bytes allocated in large blocks since the last collection. */
let allocated: usize = 0;

/** Collect once this much has been allocated: keeps garbage to a few MiB between collections. */
const THRESHOLD: usize = 2 * 1024 * 1024;

@inline export function noteAllocation(bytes: usize): void {
  allocated += bytes;
}

/** Whether enough was allocated to collect now (and resets the count when so). */
export function collectionDue(): bool {
  if (allocated < THRESHOLD) return false;
  allocated = 0;
  return true;
}

export function resetPressure(): void {
  allocated = 0;
}
