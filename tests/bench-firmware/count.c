/*
 * A QEMU TCG plugin that counts guest instructions exactly between two marker functions.
 *
 *   qemu-system-arm ... -plugin ./libcount.so,start=0xADDR,stop=0xADDR,out=FILE
 *
 * Every instruction gets an inline 64-bit add at translation time, so the count is of
 * instructions executed (an IT block's skipped instructions included, as they are issued),
 * not of blocks. Each time execution reaches the first instruction at `start` the count is
 * noted; each time it reaches `stop`, the instructions since are appended to FILE as one
 * line. Single vCPU: the emulated Cortex-M has one.
 *
 * QEMU 7.2's Debian package ships no qemu-plugin.h, so the few declarations used are
 * written out below, as in that version's include/qemu/qemu-plugin.h (plugin API 1).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- QEMU plugin API, version 1 (QEMU 7.2) --- */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed through */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;
/* --- end of the API --- */

static uint64_t executed;    /* instructions executed so far */
static uint64_t started;     /* `executed` at the last start marker */
static bool open_region;     /* a start marker was reached and its stop not yet */
static uint64_t start_addr, stop_addr;
static FILE *out;

static void on_start(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (open_region) {
        fprintf(out, "error: start marker reached twice without a stop\n");
    }
    started = executed;
    open_region = true;
}

static void on_stop(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (!open_region) {
        fprintf(out, "error: stop marker reached without a start\n");
    } else {
        fprintf(out, "%" PRIu64 "\n", executed - started);
    }
    fflush(out);
    open_region = false;
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* Callbacks run before the instruction; the inline add too, in registration order,
         * which is the same at both markers, so the difference is exact. */
        if (pc == start_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (pc == stop_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_stop, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void flush_at_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (out) {
        fflush(out);
    }
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "start=", 6) == 0) {
            start_addr = strtoull(argv[i] + 6, NULL, 0);
        } else if (strncmp(argv[i], "stop=", 5) == 0) {
            stop_addr = strtoull(argv[i] + 5, NULL, 0);
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else {
            fprintf(stderr, "count: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    if (!start_addr || !stop_addr || !path) {
        fprintf(stderr, "count: needs start=ADDR,stop=ADDR,out=FILE\n");
        return -1;
    }
    out = fopen(path, "w");
    if (!out) {
        perror(path);
        return -1;
    }
    /* Thumb code: the markers' symbols have bit 0 set, instructions do not. */
    start_addr &= ~(uint64_t)1;
    stop_addr &= ~(uint64_t)1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, flush_at_exit, NULL);
    return 0;
}
