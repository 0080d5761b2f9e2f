/**
 * Test-only faults of the node layer: each switch breaks one of DESIGN.md's "Rules that keep it safe" the
 * way a naive node runtime would, so the whole-node simulator's guard tests (packages/testkit/src/node-sim)
 * can show that its checkers catch it. Production never sets any of them.
 */
export interface NodeUnsafeSwitches {
  /**
   * Durable before it leaves: the shard reports records durable as soon as they are handed to the WAL, not
   * when the flush that wrote them completes, so promises, grants and acks leave before their fdatasync.
   */
  readonly durableOnSubmit?: boolean;
  /**
   * Durable before it leaves (batching): when a flush completes, the shard reports durable every record any
   * group submitted so far, also those of later turns that the next flush has yet to write.
   */
  readonly durableFromLaterFlush?: boolean;
  /**
   * A promise is persisted before it is given: recovery drops each group's meta record (promised pid and
   * highest ballot), so a restarted replica forgets the promises and votes it made.
   */
  readonly forgetPromiseOnRecovery?: boolean;
  /**
   * Leases are counted from when the request was sent: the lease hub counts a member's coalesced grant from
   * when the renewal's ack arrived, so a late ack (of a renewal older than the lease) extends the lease.
   */
  readonly hubLeaseFromAck?: boolean;
  /**
   * A member's acks cover only what it grants: the lease hub rebuilds a member's coverage from the whole set
   * minus the refusals of whatever reply names some (or a new epoch), and counts a part's reply at once, so a
   * group refused earlier (still granted elsewhere) or one of a lost part is counted again: two leases at once.
   */
  readonly hubRecountRefused?: boolean;
  /**
   * A new or renamed segment file is followed by an fsync of its directory: the shard's WAL skips those
   * directory fsyncs, so a crash may lose a whole segment whose records were fdatasynced.
   */
  readonly skipSegmentDirFsync?: boolean;
  /**
   * An fdatasync error is fatal (never retried): the shard's WAL retries a failed fdatasync and, when the retry
   * succeeds, reports the batch durable although the failure may have dropped its pages from the page cache.
   */
  readonly retryFailedSync?: boolean;
  /**
   * Appends are answered once committed: the shard answers {lsn, csn} as soon as the leader took the append,
   * before a majority has it durably (the client then believes in an entry a new leader may not have).
   */
  readonly answerBeforeCommit?: boolean;
  /**
   * Check the disk budget before assigning an LSN: leaders assign LSNs to appends (and followers accept
   * pushes) without reserving WAL space first, so a full budget is found only when the WAL refuses the batch
   * and every group in it leaves service.
   */
  readonly assignBeyondBudget?: boolean;
}

/** Every node switch (what `pnpm sim:node --unsafe <name>` takes besides core's). */
export const nodeUnsafeSwitchNames: readonly (keyof NodeUnsafeSwitches)[] = [
  "durableOnSubmit",
  "durableFromLaterFlush",
  "forgetPromiseOnRecovery",
  "hubLeaseFromAck",
  "hubRecountRefused",
  "skipSegmentDirFsync",
  "retryFailedSync",
  "answerBeforeCommit",
  "assignBeyondBudget",
];
