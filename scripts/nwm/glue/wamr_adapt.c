/*
 * Adapters between ngx_wasm_module's "v8" backend (NWM, written for V8's
 * wasm.h) and WAMR's wasm-c-api (core/iwasm/common/wasm_c_api.c, WAMR 2.4.5).
 * include/wasm.h redirects NWM's calls here; each adapter says which NWM
 * caller and which WAMR function it reconciles.
 *
 * Linked into libv8bridge.a: NWM's `config` (v8 runtime) puts -lv8bridge in
 * front of the engine library, which is where this layer has to sit.
 */

#define NGX_WAMR_ADAPT_IMPL
#include <wasm.h>

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>


/* WAMR's stack for each instance's wasm frames (wasm_instance_new() would
 * give 32 KiB), and no host-managed heap inside linear memory, as with V8. */
#define NGX_WAMR_STACK_SIZE  (256 * 1024)
#define NGX_WAMR_HEAP_SIZE   0


/* ---- 1. The three signatures that differ --------------------------------- */

/*
 * wasm_func_new_with_env(): NWM's ngx_v8_init_instance() registers
 * ngx_wavm_hfunc_trampoline(env, args[], rets[]); WAMR calls
 * (env, wasm_val_vec_t *, wasm_val_vec_t *) from
 * wasm_runtime_invoke_c_api_native(). A small record carries NWM's callback
 * and env; WAMR's wasm_func_delete() runs our finalizer, which frees it.
 */

typedef struct {
    ngx_wamr_callback_with_env_t   cb;
    void                          *env;
    void                         (*finalizer)(void *);
} ngx_wamr_hfunc_t;


static wasm_trap_t *
ngx_wamr_hfunc_call(void *env, const wasm_val_vec_t *args,
    wasm_val_vec_t *results)
{
    ngx_wamr_hfunc_t  *h = env;

    return h->cb(h->env, args->data, results->data);
}


static void
ngx_wamr_hfunc_free(void *env)
{
    ngx_wamr_hfunc_t  *h = env;

    if (h->finalizer) {
        h->finalizer(h->env);
    }

    free(h);
}


wasm_func_t *
ngx_wamr_func_new_with_env(wasm_store_t *store, const wasm_functype_t *type,
    ngx_wamr_callback_with_env_t cb, void *env, void (*finalizer)(void *))
{
    wasm_func_t       *func;
    ngx_wamr_hfunc_t  *h;

    h = malloc(sizeof(ngx_wamr_hfunc_t));
    if (h == NULL) {
        return NULL;
    }

    h->cb = cb;
    h->env = env;
    h->finalizer = finalizer;

    func = wasm_func_new_with_env(store, type, ngx_wamr_hfunc_call, h,
                                  ngx_wamr_hfunc_free);
    if (func == NULL) {
        free(h);
    }

    return func;
}


/*
 * wasm_func_call(): NWM's ngx_v8_call() passes args->data / rets->data.
 * WAMR's wasm_func_call() wants vectors whose size and num_elems cover the
 * function's arity (params_to_argv(), argv_to_results()).
 */
wasm_trap_t *
ngx_wamr_func_call(const wasm_func_t *func, const wasm_val_t args[],
    wasm_val_t results[])
{
    wasm_val_vec_t  a = { 0 }, r = { 0 };

    a.data = (wasm_val_t *) args;
    a.size = a.num_elems = wasm_func_param_arity(func);
    a.size_of_elem = sizeof(wasm_val_t);

    r.data = results;
    r.size = wasm_func_result_arity(func);
    r.size_of_elem = sizeof(wasm_val_t);

    return wasm_func_call(func, &a, &r);
}


/*
 * wasm_instance_new(): NWM's ngx_v8_init_instance() passes a plain array with
 * one extern per module import; WAMR's wasm_instance_new_with_args() reads a
 * wasm_extern_vec_t (do_link()) and does not keep it.
 */
wasm_instance_t *
ngx_wamr_instance_new(wasm_store_t *store, const wasm_module_t *module,
    const wasm_extern_t *const imports[], wasm_trap_t **trap)
{
    wasm_importtype_vec_t  types;
    wasm_extern_vec_t      v = { 0 };

    wasm_module_imports(module, &types);
    v.size = v.num_elems = types.num_elems;
    wasm_importtype_vec_delete(&types);

    v.data = (wasm_extern_t **) imports;
    v.size_of_elem = sizeof(wasm_extern_t *);

    return wasm_instance_new_with_args(store, module, &v, trap,
                                       NGX_WAMR_STACK_SIZE,
                                       NGX_WAMR_HEAP_SIZE);
}


/* ---- 2. Vectors and names ------------------------------------------------ */

/*
 * WAMR's vectors carry a private num_elems that
 * wasm_valtype_vec_new_uninitialized() leaves at 0. NWM's
 * ngx_wavm_host_kindvec2typevec() (src/wasm/vm/ngx_wavm_host.c) fills data[]
 * as the API allows, so WAMR's wasm_functype_new() would see host functions
 * with no parameters and linking fails. Count what NWM filled.
 */
wasm_functype_t *
ngx_wamr_functype_new(wasm_valtype_vec_t *params, wasm_valtype_vec_t *results)
{
    if (params) {
        params->num_elems = params->size;
    }

    if (results) {
        results->num_elems = results->size;
    }

    return wasm_functype_new(params, results);
}


/*
 * WAMR builds names with wasm_name_new_from_string_nt(), counting the NUL in
 * size ("env\0"). NWM compares names by length (ngx_v8_link_module(), the
 * export lookups in src/wasm/vm/ngx_wavm.c), so drop it. The bytes stay
 * allocated; only the visible size shrinks.
 */
static void
ngx_wamr_trim_nul(const wasm_name_t *name)
{
    wasm_name_t  *n = (wasm_name_t *) name;

    if (n && n->size && n->data[n->size - 1] == '\0') {
        n->size--;
    }
}


void
ngx_wamr_module_imports(const wasm_module_t *module,
    wasm_importtype_vec_t *out)
{
    size_t  i;

    wasm_module_imports(module, out);

    for (i = 0; i < out->num_elems; i++) {
        ngx_wamr_trim_nul(wasm_importtype_module(out->data[i]));
        ngx_wamr_trim_nul(wasm_importtype_name(out->data[i]));
    }
}


void
ngx_wamr_module_exports(const wasm_module_t *module,
    wasm_exporttype_vec_t *out)
{
    size_t  i;

    wasm_module_exports(module, out);

    for (i = 0; i < out->num_elems; i++) {
        ngx_wamr_trim_nul(wasm_exporttype_name(out->data[i]));
    }
}


/* Trap messages too: ngx_wavm_log_error() prints trapmsg.size bytes, which
 * would put a NUL byte into error.log. */
void
ngx_wamr_trap_message(const wasm_trap_t *trap, wasm_message_t *out)
{
    wasm_trap_message(trap, out);
    ngx_wamr_trim_nul(out);
}


/* ---- 3. Crash-signal handlers --------------------------------------------- */

/*
 * For its guard-page bounds checks WAMR installs a SIGSEGV/SIGBUS handler
 * (signal_callback(), os_thread_signal_init() in
 * core/shared/platform/common/posix/posix_thread.c) and keeps the handler it
 * replaced in a process-wide variable, to forward faults that are not its
 * own. Two things leave WAMR's handler recorded as its own "previous" one,
 * after which a crash in nginx or NWM code is forwarded to itself forever
 * (a tail call: the worker spins at 100% CPU, deaf to SIGQUIT):
 *
 * - os_thread_signal_destroy() (wasm_store_delete() when a thread's last
 *   store goes, wasm_engine_delete()) leaves the handler installed, and the
 *   next wasm_store_new() installs it again over itself;
 * - every thread WAMR starts runs os_thread_signal_init() from
 *   os_thread_wrapper(), with WAMR's handler already in place: the fast JIT
 *   compiles each module on such threads (compile_jit_functions() in
 *   core/iwasm/interpreter/wasm_loader.c), for wasm_module_new() and for
 *   wasm_module_validate() alike.
 *
 * So: remember the handlers from before WAMR starts; put them back when WAMR
 * has let go of this thread; after a module load, re-seat WAMR's handler
 * (wasm_runtime_destroy_thread_env() + wasm_runtime_init_thread_env(), public
 * API) on top of them. A host crash then ends the worker ("exited on signal
 * 6") as it would in Kong. The fast JIT is built with WAMR_BUILD_LAZY_JIT=0,
 * so its compile threads have finished when the load returns. nginx runs wasm
 * on one thread per process, hence plain statics.
 */

/* WAMR's own flag; declared in core/shared/platform/linux/platform_internal.h */
extern bool os_thread_signal_inited(void);
/* core/iwasm/include/wasm_export.h */
extern bool wasm_runtime_init_thread_env(void);
extern void wasm_runtime_destroy_thread_env(void);

static struct sigaction  ngx_wamr_saved_segv, ngx_wamr_saved_bus;
static bool              ngx_wamr_saved;


static void
ngx_wamr_put_back_handlers(void)
{
    if (ngx_wamr_saved) {
        sigaction(SIGSEGV, &ngx_wamr_saved_segv, NULL);
        sigaction(SIGBUS, &ngx_wamr_saved_bus, NULL);
    }
}


static void
ngx_wamr_reseat_handlers(void)
{
    if (os_thread_signal_inited()) {
        wasm_runtime_destroy_thread_env();
        ngx_wamr_put_back_handlers();
        wasm_runtime_init_thread_env();
    }
}


wasm_engine_t *
ngx_wamr_engine_new(void)
{
    if (!ngx_wamr_saved && !os_thread_signal_inited()) {
        sigaction(SIGSEGV, NULL, &ngx_wamr_saved_segv);
        sigaction(SIGBUS, NULL, &ngx_wamr_saved_bus);
        ngx_wamr_saved = true;
    }

    return wasm_engine_new();
}


void
ngx_wamr_engine_delete(wasm_engine_t *engine)
{
    wasm_engine_delete(engine);

    if (!os_thread_signal_inited()) {
        ngx_wamr_put_back_handlers();
    }
}


void
ngx_wamr_store_delete(wasm_store_t *store)
{
    wasm_store_delete(store);

    if (!os_thread_signal_inited()) {
        ngx_wamr_put_back_handlers();
    }
}


wasm_module_t *
ngx_wamr_module_new(wasm_store_t *store, const wasm_byte_vec_t *binary)
{
    wasm_module_t  *module;

    module = wasm_module_new(store, binary);
    ngx_wamr_reseat_handlers();

    return module;
}


bool
ngx_wamr_module_validate(wasm_store_t *store, const wasm_byte_vec_t *binary)
{
    bool  ok;

    ok = wasm_module_validate(store, binary);
    ngx_wamr_reseat_handlers();

    return ok;
}
