/**
 * @palf/core/testing: reference models for tests of code built on the core (not for production): what a
 * replica's disk holds once its persist records are applied in order.
 */
export { MutableImage } from "./durable-image.test-support.ts";
