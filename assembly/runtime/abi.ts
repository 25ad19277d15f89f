// Values of the proxy-wasm ABI 0.2.1 (proxy-wasm/spec, abi-versions/v0.2.1).

export namespace Status {
  export const Ok: u32 = 0;
  export const NotFound: u32 = 1;
  export const BadArgument: u32 = 2;
  export const SerializationFailure: u32 = 3;
  export const ParseFailure: u32 = 4;
  export const InvalidMemoryAccess: u32 = 6;
  export const Empty: u32 = 7;
  export const CasMismatch: u32 = 8;
  export const InternalFailure: u32 = 10;
  export const Unimplemented: u32 = 12;
}

export namespace LogLevel {
  export const Trace: u32 = 0;
  export const Debug: u32 = 1;
  export const Info: u32 = 2;
  export const Warn: u32 = 3;
  export const Error: u32 = 4;
  export const Critical: u32 = 5;
}

export namespace MapType {
  export const RequestHeaders: i32 = 0;
  export const ResponseHeaders: i32 = 2;
  export const HttpCallResponseHeaders: i32 = 6;
}

export namespace BufferType {
  export const RequestBody: i32 = 0;
  export const ResponseBody: i32 = 1;
  export const HttpCallResponseBody: i32 = 4;
  export const VmConfiguration: i32 = 6;
  export const PluginConfiguration: i32 = 7;
}

export namespace Action {
  export const Continue: u32 = 0;
  export const Pause: u32 = 1;
}
