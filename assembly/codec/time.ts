// ISO-8601 UTC timestamps with milliseconds ("2024-05-01T12:00:00.123Z"), as Moesif expects,
// computed from epoch milliseconds without Date (which would import a host clock Kong lacks).
import { ByteWriter } from "./bytes";

// The quoted date and time to the second ("2024-05-01T12:00:00.), as last written: an event's two
// times, and most events of a busy second, share it, so only the milliseconds are formatted anew.
const PREFIX_LENGTH = 21;
const prefix = memory.data(PREFIX_LENGTH);
let prefixSecond: u64 = U64.MAX_VALUE;

/** Writes `ms` (milliseconds since 1970-01-01) as a quoted ISO-8601 UTC timestamp. */
export function writeIsoTime(w: ByteWriter, ms: u64): void {
  const second = ms / 1000;
  if (second != prefixSecond) {
    const scratch = new ByteWriter(PREFIX_LENGTH + 8);
    writeDateTime(scratch, ms);
    memory.copy(prefix, scratch.view().dataStart, PREFIX_LENGTH);
    prefixSecond = second;
  }
  w.reserve(PREFIX_LENGTH + 5);
  memory.copy(w.room(PREFIX_LENGTH), prefix, PREFIX_LENGTH);
  w.length += PREFIX_LENGTH;
  w.padded(<u32>(ms % 1000), 3).byte(0x5a).byte(0x22);
}

/** The quoted date and time to the second and the dot after it: the first PREFIX_LENGTH bytes of a timestamp. */
function writeDateTime(w: ByteWriter, ms: u64): void {
  const days = <i64>(ms / 86400000);
  const msOfDay = <u32>(ms % 86400000);
  // Howard Hinnant's civil_from_days.
  const z = days + 719468;
  const era = z / 146097;
  const doe = <u32>(z - era * 146097);
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  let year = <i64>yoe + era * 400;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const day = doy - (153 * mp + 2) / 5 + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  if (month <= 2) year++;

  w.byte(0x22);
  w.padded(<u32>year, 4).byte(0x2d).padded(month, 2).byte(0x2d).padded(day, 2).byte(0x54);
  w.padded(msOfDay / 3600000, 2).byte(0x3a).padded(msOfDay / 60000 % 60, 2).byte(0x3a);
  w.padded(msOfDay / 1000 % 60, 2).byte(0x2e);
}

/** Parses nginx's "seconds.millis" (Kong's `request.time` property) into epoch ms; 0 if malformed. */
export function parseSecondsDotMillis(b: Uint8Array): u64 {
  let secs: u64 = 0;
  let i = 0;
  const n = b.length;
  if (n == 0 || n > 24) return 0;
  while (i < n && b[i] >= 0x30 && b[i] <= 0x39) { secs = secs * 10 + <u64>(b[i] - 0x30); i++; }
  if (i == 0) return 0;
  let millis: u64 = 0;
  let digits = 0;
  if (i < n) {
    if (b[i] != 0x2e) return 0;
    i++;
    while (i < n && b[i] >= 0x30 && b[i] <= 0x39) {
      if (digits < 3) { millis = millis * 10 + <u64>(b[i] - 0x30); digits++; }
      i++;
    }
    if (i != n) return 0;
  }
  while (digits < 3) { millis *= 10; digits++; }
  return secs * 1000 + millis;
}
