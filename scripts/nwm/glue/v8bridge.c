/*
 * Stand-in for NWM's C++ bridge to V8 (lib/v8bridge/bridge.cc), which the v8
 * backend links as -lv8bridge. ngx_v8_init_engine() in
 * src/wasm/wrt/ngx_wrt_v8.c calls these two before wasm_engine_new().
 */

#include <v8bridge.h>


/* V8 command-line flags (from ngx_wrt_v8.c and the `wasm { flag ...; }`
 * directives). WAMR has no such flags: ignored. */
void
ngx_v8_set_flags(const char *flags)
{
    (void) flags;
}


/* V8's trap handler turns out-of-bounds faults in wasm code into traps.
 * WAMR does the same with its own guard-page signal handler (hardware bounds
 * checks, which this build keeps on), so report success. */
int
ngx_v8_enable_wasm_trap_handler(int use_v8_signal_handler)
{
    (void) use_v8_signal_handler;

    return 1;
}
