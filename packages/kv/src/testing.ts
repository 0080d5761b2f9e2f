// Test and simulator aids of the store, for other packages' tests and simulators (not its public API).
export { MemoryPartitionLog } from "./memory-partition-log.ts";
