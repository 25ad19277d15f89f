/*
 * The <wasm.h> that ngx_wasm_module's "v8" backend compiles against, served
 * by WAMR's wasm-c-api (wasm_c_api.h).
 *
 * NWM's src/wasm/wrt/ngx_wrt_v8.c (and the V8 branch of
 * ngx_wavm_hfunc_trampoline() in src/wasm/vm/ngx_wavm_host.c) is written
 * against the wasm.h that V8 ships, an older revision of the C API that
 * passes plain arrays. WAMR implements the current revision, which passes
 * wasm_val_vec_t / wasm_extern_vec_t. Everything NWM calls is redirected
 * here, by macro, to an adapter in wamr_adapt.c when the two disagree in
 * signature or in behaviour. No NWM or WAMR source is modified.
 */

#ifndef NGX_WAMR_WASM_H
#define NGX_WAMR_WASM_H

#include <wasm_c_api.h>

/* V8's revision calls the opaque reference kind ANYREF; NWM's
 * src/wasm/wrt/ngx_wrt.h names it in its WASM_REF_VAL fallback. */
#ifndef WASM_ANYREF
#define WASM_ANYREF WASM_EXTERNREF
#endif

/* V8's host callback: arrays, not vectors. */
typedef wasm_trap_t *(*ngx_wamr_callback_with_env_t)(void *env,
    const wasm_val_t args[], wasm_val_t results[]);

wasm_func_t *ngx_wamr_func_new_with_env(wasm_store_t *store,
    const wasm_functype_t *type, ngx_wamr_callback_with_env_t cb, void *env,
    void (*finalizer)(void *));
wasm_trap_t *ngx_wamr_func_call(const wasm_func_t *func,
    const wasm_val_t args[], wasm_val_t results[]);
wasm_instance_t *ngx_wamr_instance_new(wasm_store_t *store,
    const wasm_module_t *module, const wasm_extern_t *const imports[],
    wasm_trap_t **trap);

wasm_functype_t *ngx_wamr_functype_new(wasm_valtype_vec_t *params,
    wasm_valtype_vec_t *results);
void ngx_wamr_module_imports(const wasm_module_t *module,
    wasm_importtype_vec_t *out);
void ngx_wamr_module_exports(const wasm_module_t *module,
    wasm_exporttype_vec_t *out);
void ngx_wamr_trap_message(const wasm_trap_t *trap, wasm_message_t *out);

wasm_engine_t *ngx_wamr_engine_new(void);
void ngx_wamr_engine_delete(wasm_engine_t *engine);
void ngx_wamr_store_delete(wasm_store_t *store);
wasm_module_t *ngx_wamr_module_new(wasm_store_t *store,
    const wasm_byte_vec_t *binary);
bool ngx_wamr_module_validate(wasm_store_t *store,
    const wasm_byte_vec_t *binary);

#ifndef NGX_WAMR_ADAPT_IMPL  /* wamr_adapt.c itself calls WAMR's own */

/* 1. the three signatures that differ */
#define wasm_func_new_with_env  ngx_wamr_func_new_with_env
#define wasm_func_call          ngx_wamr_func_call
#define wasm_instance_new       ngx_wamr_instance_new

/* 2. vectors NWM fills by hand, names with a trailing NUL */
#define wasm_functype_new       ngx_wamr_functype_new
#define wasm_module_imports     ngx_wamr_module_imports
#define wasm_module_exports     ngx_wamr_module_exports
#define wasm_trap_message       ngx_wamr_trap_message

/* 3. keep the crash-signal handlers WAMR forwards to what they were */
#define wasm_engine_new         ngx_wamr_engine_new
#define wasm_engine_delete      ngx_wamr_engine_delete
#define wasm_store_delete       ngx_wamr_store_delete
#define wasm_module_new         ngx_wamr_module_new
#define wasm_module_validate    ngx_wamr_module_validate

#endif

#endif /* NGX_WAMR_WASM_H */
