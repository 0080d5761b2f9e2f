/**
 * @palf/transport/testing: fast-check arbitraries of peer messages for tests of code built on the transport
 * (hostile-input tests of a live cluster); not for production.
 */
export { messageArb } from "./messages.test-support.ts";
