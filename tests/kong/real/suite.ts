// What every file of the Kong suite shares: the Kong it runs in (tests/kong/run.ts found it and
// passes it on; a file run alone finds it again) and that release's expectations.
import { kongUnavailable } from "../launcher.ts";
import { kongProfile, KongProfile } from "../version.ts";

function find(): { bin: string; version: string } | { skip: string } {
  const bin = process.env.KONG_SUITE_BIN;
  const version = process.env.KONG_SUITE_VERSION;
  return bin && version ? { bin, version } : kongUnavailable();
}

const found = find();
/** The reason the suite cannot run (a `skip` option for describe), or false. */
export const SKIP: string | false = "skip" in found ? found.skip : false;
export const KONG_BIN: string = "bin" in found ? found.bin : "";
export const KONG_VERSION: string = "version" in found ? found.version : "0.0.0";
export const PROFILE: KongProfile = kongProfile(KONG_VERSION);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ok()` or `ms` passed; the last answer. */
export async function until(ok: () => boolean | Promise<boolean>, ms: number, step = 50): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return true;
    await sleep(step);
  }
  return ok();
}
