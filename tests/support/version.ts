import { readFileSync } from "node:fs";

/** The filter's version: package.json's, which the build checks assembly/filter/version.ts against. */
export const FILTER_VERSION: string = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
