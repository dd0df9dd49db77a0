//! The runtime a Cortex-M needs before `main`: vector table, reset handler, fault handler.
//!
//! Written in Thumb-1 assembly so that the same code runs on ARMv6-M (Cortex-M0) and
//! ARMv7E-M (Cortex-M4F), and so that no Rust code runs before `.data` and `.bss` exist.

use core::arch::global_asm;

/// Word the reset handler paints the stack with; [`crate::stack`] looks for it.
pub const STACK_PAINT: u32 = 0xDEAD_BEEF;

// The 16 core exception vectors. Device interrupts stay disabled, so none follow them.
global_asm!(
    ".section .vectors, \"a\"",
    ".global VECTORS",
    ".p2align 2",
    "VECTORS:",
    ".word _stack_top", // initial SP
    ".word reset",      // Reset
    ".word fault",      // NMI
    ".word fault",      // HardFault
    ".word fault",      // MemManage (ARMv7-M)
    ".word fault",      // BusFault (ARMv7-M)
    ".word fault",      // UsageFault (ARMv7-M)
    ".word 0, 0, 0, 0", // reserved
    ".word fault",      // SVCall
    ".word fault",      // DebugMonitor (ARMv7-M)
    ".word 0",          // reserved
    ".word fault",      // PendSV
    ".word fault",      // SysTick
);

// Reset: copy .data from flash, zero .bss, paint the stack below the current SP, switch the
// FPU on (enable_fpu), then enter Rust. Only r0-r3 and Thumb-1 encodings are used.
global_asm!(
    ".section .text.reset, \"ax\"",
    ".global reset",
    ".type reset, %function",
    ".thumb_func",
    "reset:",
    "    ldr r0, =_sdata",
    "    ldr r1, =_edata",
    "    ldr r2, =_sidata",
    "1:  cmp r0, r1",
    "    bhs 2f",
    "    ldr r3, [r2]",
    "    str r3, [r0]",
    "    adds r0, #4",
    "    adds r2, #4",
    "    b 1b",
    "2:  ldr r0, =_sbss",
    "    ldr r1, =_ebss",
    "    movs r3, #0",
    "3:  cmp r0, r1",
    "    bhs 4f",
    "    str r3, [r0]",
    "    adds r0, #4",
    "    b 3b",
    "4:  ldr r0, =_stack_bottom",
    "    mov r1, sp",
    "    ldr r3, ={paint}",
    "5:  cmp r0, r1",
    "    bhs 6f",
    "    str r3, [r0]",
    "    adds r0, #4",
    "    b 5b",
    "6:  bl enable_fpu",
    "    bl start",
    "    b .",
    ".ltorg",
    paint = const STACK_PAINT,
);

// Cortex-M4F: grant full access to CP10 and CP11 (CPACR bits 20..24) before any floating-point
// instruction executes; the DSB/ISB make the new access rights visible to what follows.
#[cfg(target_abi = "eabihf")]
global_asm!(
    ".section .text.enable_fpu, \"ax\"",
    ".global enable_fpu",
    ".type enable_fpu, %function",
    ".thumb_func",
    "enable_fpu:",
    "    ldr r0, =0xE000ED88",
    "    ldr r1, [r0]",
    "    ldr r2, =0x00F00000",
    "    orrs r1, r2",
    "    str r1, [r0]",
    "    dsb",
    "    isb",
    "    bx lr",
    ".ltorg",
);

// Cortex-M0: no FPU, nothing to switch on.
#[cfg(not(target_abi = "eabihf"))]
global_asm!(
    ".section .text.enable_fpu, \"ax\"",
    ".global enable_fpu",
    ".type enable_fpu, %function",
    ".thumb_func",
    "enable_fpu:",
    "    bx lr",
);

/// Every exception but reset: report it and stop with a failing exit code.
#[no_mangle]
extern "C" fn fault() -> ! {
    crate::semihosting::write_str("FAULT: an exception was taken (HardFault, bad access, ...)\n");
    crate::semihosting::exit(3)
}

/// Called by `reset` once memory is initialised and the FPU is on.
#[no_mangle]
extern "C" fn start() -> ! {
    let failed = crate::main();
    crate::semihosting::exit(if failed == 0 { 0 } else { 1 })
}

#[cfg(not(feature = "panic-free"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    crate::semihosting::write_str("PANIC\n");
    crate::semihosting::exit(101)
}

#[cfg(feature = "panic-free")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    extern "C" {
        /// Deliberately undefined: if any panic path survives optimization, the link fails
        /// with "undefined symbol: a_panic_path_survived_optimization".
        fn a_panic_path_survived_optimization() -> !;
    }
    // SAFETY: never executed in a binary that links; the symbol does not exist.
    unsafe { a_panic_path_survived_optimization() }
}
