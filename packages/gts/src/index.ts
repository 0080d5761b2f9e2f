/**
 * @palf/gts: the global timestamp service. The server runs on the leader of the GTS group (group 0) inside
 * a palf node; the client batches callers into one request in flight and hands out ranges.
 */
export { CEILING_PAYLOAD, GTS_GROUP, microsFrom } from "./gts-ceiling.ts";
export { GtsClient, type GtsClientOptions } from "./gts-client.ts";
export type { GtsHost } from "./gts-host.ts";
export { type GtsAnswer, GtsServer, type GtsServerOptions } from "./gts-server.ts";
