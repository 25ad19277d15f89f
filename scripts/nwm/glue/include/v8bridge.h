/*
 * NWM's src/wasm/wrt/ngx_wrt_v8.c includes <v8bridge.h>, the header of its
 * C++ bridge to V8 (lib/v8bridge/bridge.h, installed under this name by
 * NWM's util/runtimes/v8.sh). Same two prototypes; v8bridge.c stubs them.
 */

#ifndef _NGX_WRT_V8_BRIDGE_H_INCLUDED_
#define _NGX_WRT_V8_BRIDGE_H_INCLUDED_

int ngx_v8_enable_wasm_trap_handler(int use_v8_signal_handler);
void ngx_v8_set_flags(const char *flags);

#endif /* _NGX_WRT_V8_BRIDGE_H_INCLUDED_ */
