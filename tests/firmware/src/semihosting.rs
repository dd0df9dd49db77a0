//! ARM semihosting over `BKPT 0xAB`: text to the host's stdout, and the exit code.
//!
//! QEMU implements it with `-semihosting-config enable=on,target=native`. Numbers are printed
//! by hand rather than with `core::fmt`, which would cost several KiB of flash.

use core::arch::asm;

const SYS_WRITEC: usize = 0x03;
const SYS_WRITE0: usize = 0x04;
const SYS_EXIT_EXTENDED: usize = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: usize = 0x2_0026;

/// Issues semihosting call `op` with parameter `arg`.
///
/// # Safety
/// `arg` must be what call `op` expects (for the calls here, a pointer to a valid block).
unsafe fn call(op: usize, arg: usize) -> usize {
    let ret;
    // SAFETY: the caller passes a valid parameter; the debugger (QEMU) services the BKPT.
    unsafe { asm!("bkpt #0xab", inout("r0") op => ret, in("r1") arg, options(nostack)) };
    ret
}

/// Writes one byte.
pub fn write_byte(b: u8) {
    // SAFETY: SYS_WRITEC reads one byte at the address in r1.
    unsafe { call(SYS_WRITEC, &b as *const u8 as usize) };
}

/// Writes `s` in NUL-terminated chunks of up to 63 bytes (SYS_WRITE0).
pub fn write_str(s: &str) {
    let mut buf = [0u8; 64];
    for chunk in s.as_bytes().chunks(63) {
        let (text, rest) = buf.split_at_mut(chunk.len());
        text.copy_from_slice(chunk);
        if let Some(nul) = rest.first_mut() {
            *nul = 0;
        }
        // SAFETY: `buf` holds `chunk` followed by a NUL byte.
        unsafe { call(SYS_WRITE0, buf.as_ptr() as usize) };
    }
}

/// Writes `n` in decimal, right-aligned in `width` columns.
pub fn write_u32(n: u32, width: usize) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut v = n;
    for d in digits.iter_mut() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
        len += 1;
        if v == 0 {
            break;
        }
    }
    for _ in len..width {
        write_byte(b' ');
    }
    for d in digits.iter().take(len).rev() {
        write_byte(*d);
    }
}

/// Ends the program; QEMU exits with `code` (SYS_EXIT_EXTENDED, so the code is real).
pub fn exit(code: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, code as usize];
    loop {
        // SAFETY: SYS_EXIT_EXTENDED reads the two-word block at r1.
        unsafe { call(SYS_EXIT_EXTENDED, block.as_ptr() as usize) };
    }
}
