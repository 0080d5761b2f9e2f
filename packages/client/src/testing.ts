/**
 * @palf/client/testing: a fake palf cluster on an in-memory bus that answers the client RPC protocol, for
 * tests and demos of code built on the client (not for production).
 */
export { FakeCluster, type FakeNode, type Intercept } from "./fake-cluster.test-support.ts";
