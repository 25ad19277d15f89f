/*
 * Stand-in for NWM's Rust library lib/ngx-wasm-rs (the v8 runtime requires
 * it in NWM's `config`: ngx_wasm_cargo_mandatory=yes). Built with
 * NGX_WASM_CARGO=0, `config` only checks that the link flags name a path
 * containing "ngx-wasm-rs", then defines NGX_WASM_WAT and NGX_WASM_BACKTRACE;
 * the headers come from the pin's own lib/ngx-wasm-rs/include.
 *
 * Filters are binary modules, so neither feature is needed:
 * - .wat text modules are refused with an error;
 * - backtraces keep WAMR's function indices (no name table).
 */

#include <wasm_c_api.h>
#include <stdlib.h>
#include <string.h>


/* lib/ngx-wasm-rs/include/ngx_wasm_wat.h. The error is freed by
 * ngx_v8_log_handler() with ngx_free() (free()), so use malloc(). */
wasm_byte_vec_t *
ngx_wasm_wat_to_wasm(const wasm_byte_vec_t *wat, wasm_byte_vec_t *wasm)
{
    static const char  msg[] = ".wat support not compiled in (no ngx-wasm-rs)";
    wasm_byte_vec_t   *err;

    (void) wat;
    (void) wasm;

    err = malloc(sizeof(wasm_byte_vec_t));
    if (err == NULL) {
        return NULL;
    }

    memset(err, 0, sizeof(wasm_byte_vec_t));

    err->data = malloc(sizeof(msg) - 1);
    if (err->data == NULL) {
        free(err);
        return NULL;
    }

    memcpy(err->data, msg, sizeof(msg) - 1);
    err->size = err->num_elems = sizeof(msg) - 1;

    return err;
}


/* lib/ngx-wasm-rs/include/ngx_wasm_backtrace.h. NWM's ngx_wavm.c checks the
 * table for NULL and then prints "func <index>". The table type is NWM's;
 * only a pointer to it crosses here. */
void *
ngx_wasm_backtrace_get_name_table(const wasm_byte_vec_t *wasm)
{
    (void) wasm;

    return NULL;
}


void
ngx_wasm_backtrace_free_name_table(void *table)
{
    (void) table;
}


void
ngx_wasm_backtrace_demangle(const wasm_byte_vec_t *mangled,
    wasm_byte_vec_t *demangled)
{
    (void) mangled;

    memset(demangled, 0, sizeof(wasm_byte_vec_t));
}


void
ngx_wasm_backtrace_drop_byte_vec(const wasm_byte_vec_t *vec)
{
    (void) vec;
}
