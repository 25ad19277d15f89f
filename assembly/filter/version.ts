// Kept in step with package.json by the build (scripts/build.mjs checks it).
export const FILTER_NAME = "moesif-kong-wasm";
export const FILTER_VERSION = "0.1.0";
