/**
 * @palf/cdc: one change stream over many groups in commit (CSN) order, driven by the nodes' watermark
 * batches, with checkpoints to resume from.
 */
export { cdcBefore } from "./cdc-order.ts";
export { CdcReader, openCdc } from "./cdc-reader.ts";
export type { CdcCheckpoint, CdcEntry, CdcOptions } from "./cdc-types.ts";
