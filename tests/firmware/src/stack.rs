//! Peak stack depth by painting: every free stack word holds [`STACK_PAINT`] until a call
//! writes it, so the lowest word that lost its paint marks the deepest point reached.

use core::arch::{asm, global_asm};
use core::ptr::{addr_of, read_volatile};

use crate::rt::STACK_PAINT;

extern "C" {
    static _stack_bottom: u32;
    static _stack_top: u32;
}

fn bottom() -> usize {
    // Only the address of the linker symbol is taken.
    addr_of!(_stack_bottom) as usize
}

/// The address just above the stack, where it starts growing down towards [`bottom`].
fn top() -> usize {
    // Only the address of the linker symbol is taken.
    addr_of!(_stack_top) as usize
}

/// The stack's size in bytes.
pub fn size() -> usize {
    top() - bottom()
}

/// The current stack pointer.
#[inline(always)]
fn sp() -> usize {
    let sp: usize;
    // SAFETY: reads SP, touches nothing.
    unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

// `stack_paint()`: repaints every word from the bottom of the stack up to the caller's SP.
// In assembly because it writes right up to SP: compiled Rust could push its frame after
// reading SP (shrink-wrapping) and paint over its own return address. A leaf using r0-r2.
global_asm!(
    ".section .text.stack_paint, \"ax\"",
    ".global stack_paint",
    ".type stack_paint, %function",
    ".thumb_func",
    "stack_paint:",
    "    ldr r0, =_stack_bottom",
    "    mov r1, sp",
    "    ldr r2, ={paint}",
    "1:  cmp r0, r1",
    "    bhs 2f",
    "    str r2, [r0]",
    "    adds r0, #4",
    "    b 1b",
    "2:  bx lr",
    ".ltorg",
    paint = const STACK_PAINT,
);

extern "C" {
    fn stack_paint();
}

fn paint() {
    // SAFETY: writes only [stack bottom, SP), which no live frame occupies.
    unsafe { stack_paint() }
}

/// The lowest stack address written since the last paint.
fn low_water() -> usize {
    let mut p = bottom();
    // SAFETY: [bottom, top) is the stack region, readable and word aligned.
    while p < top() && unsafe { read_volatile(p as *const u32) } == STACK_PAINT {
        p += 4;
    }
    p
}

/// Tracks the deepest point the stack reached over the whole run.
pub struct Meter {
    lowest: usize,
}

impl Meter {
    /// A meter that has seen the stack since reset (the reset handler painted it).
    pub const fn new() -> Self {
        Meter { lowest: usize::MAX }
    }

    /// Runs `f` and returns its result and the bytes of stack it used below the caller.
    #[inline(never)]
    pub fn measure<R>(&mut self, f: impl FnOnce() -> R) -> (R, usize) {
        self.lowest = self.lowest.min(low_water());
        let base = sp();
        paint();
        let r = f();
        let low = low_water();
        self.lowest = self.lowest.min(low);
        (r, base.saturating_sub(low))
    }

    /// The peak stack use of the whole program so far, in bytes.
    pub fn peak(&mut self) -> usize {
        self.lowest = self.lowest.min(low_water());
        top() - self.lowest
    }
}
