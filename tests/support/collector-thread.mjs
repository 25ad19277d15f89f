// The collector thread's entry: a worker does not inherit tsx's loader for its entry file, so this
// registers it and then loads the TypeScript collector (collector-worker.ts).
import { register } from "tsx/esm/api";

register();
await import("./collector-worker.ts");
