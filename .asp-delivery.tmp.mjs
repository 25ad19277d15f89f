import base from "./as-pect.config.mjs";
export default { ...base, entries: ["assembly/__tests__/delivery/*.spec.ts"] };
