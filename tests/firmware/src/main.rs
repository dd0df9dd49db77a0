//! Runs `nchw`'s kernels on a bare Cortex-M under QEMU: a small network forward, one training
//! step, and every kernel with bad arguments; each result is checked against naive loops and
//! against checksums computed on the host. Then trains the network for a few steps and prints
//! the loss and the predictions (`demo`), and ends with `checks: N passed, N failed` and a line
//! of flash and stack figures. Exits non-zero on any failure. Only failed checks are printed,
//! unless the `report` feature is on, which also prints the stack each kernel call uses.
//!
//! ```text
//! cd tests/firmware
//! cargo run --release                                # Cortex-M4F, qemu -machine mps2-an386
//! cargo run --release --target thumbv6m-none-eabi    # Cortex-M0,  qemu -machine microbit
//! cargo build --release --features panic-free        # links only if no panic path survives
//! ```
//!
//! `.ci/firmware` runs all of it and prints the flash table. No dependency beyond `nchw`:
//! the runtime (`rt`), semihosting and stack painting are a few dozen lines each.
#![no_std]
#![no_main]
// The `im2col-only` and set firmwares run only their own module.
#![cfg_attr(
    any(feature = "im2col-only", feature = "inference-set", feature = "i8-set"),
    allow(dead_code, unused_imports)
)]

// `ok!`, for every module's `const` geometries.
#[macro_use]
mod ok;
#[cfg_attr(feature = "network-only", allow(dead_code))]
mod bad_args;
#[cfg(not(feature = "panic-free"))]
mod demo;
#[cfg(feature = "im2col-only")]
mod im2col_only;
// The checks read what the steps carry; the panic-free build has none.
#[cfg_attr(feature = "panic-free", allow(dead_code))]
mod int8;
#[cfg(not(feature = "panic-free"))]
mod int8_reference;
// The feature checks run only where `reference` is built.
#[cfg_attr(feature = "panic-free", allow(dead_code))]
mod model;
#[cfg(not(any(feature = "panic-free", feature = "network-only")))]
mod pooling;
#[cfg(not(feature = "panic-free"))]
mod reference;
mod rt;
mod semihosting;
#[cfg(any(feature = "inference-set", feature = "i8-set"))]
mod sets;
mod stack;

use model::{Buffers, Runner};
use nchw::Error;
use semihosting::{write_str, write_u32};

/// Every buffer of the network, in `.bss`.
static mut BUFFERS: Buffers = Buffers::new();
/// The int8 kernels' buffers, in `.bss`.
static mut INT8: int8::Int8 = int8::Int8::new();

/// The most kernel calls the stack table holds.
const KERNELS: usize = 24;

/// The firmware's [`Runner`]: prints each check, counts, and measures each kernel's stack.
struct Board {
    passed: u32,
    failed: u32,
    meter: stack::Meter,
    /// Per kernel call: its name and the stack it used.
    stacks: [(&'static str, usize); KERNELS],
    /// How many entries of `stacks` are filled.
    kernels: usize,
}

/// Every call into the crate. Never inlined, so that all the code the crate contributes sits
/// in `nchw::` symbols or in instances of this function.
///
/// With the `without-kernels` feature the call is replaced by an error: the image then holds
/// everything but the crate, and the difference in size is the crate's share of the flash.
#[inline(never)]
fn kernel_call<T>(call: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    #[cfg(not(feature = "without-kernels"))]
    return call();
    #[cfg(feature = "without-kernels")]
    {
        drop(call);
        Err(Error::Overflow)
    }
}

impl Runner for Board {
    fn call<T>(&mut self, call: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        kernel_call(call)
    }

    fn check(&mut self, name: &'static str, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        if !ok || cfg!(feature = "report") {
            write_str(if ok { "ok    " } else { "FAIL  " });
            write_str(name);
            write_str("\n");
        }
    }

    /// Also measures the stack the kernel uses, from just above the call.
    fn kernel(&mut self, name: &'static str, call: impl FnOnce() -> Result<(), Error>) {
        let (result, used) = self.meter.measure(|| kernel_call(call));
        if let Some(slot) = self.stacks.get_mut(self.kernels) {
            *slot = (name, used);
            self.kernels += 1;
        }
        if result.is_err() {
            self.check(name, false);
        }
    }
}

/// Bytes of flash the image occupies (vectors, code, read-only data, `.data`'s initialisers).
fn flash_used() -> usize {
    extern "C" {
        static _flash_end: u8;
    }
    // Only the address of the linker symbol is taken; flash starts at 0 on both boards.
    core::ptr::addr_of!(_flash_end) as usize
}

#[cfg(feature = "im2col-only")]
fn main() -> u32 {
    im2col_only::run()
}

#[cfg(all(
    any(feature = "inference-set", feature = "i8-set"),
    not(feature = "im2col-only")
))]
fn main() -> u32 {
    sets::run()
}

#[cfg(not(any(feature = "im2col-only", feature = "inference-set", feature = "i8-set")))]
fn main() -> u32 {
    write_str(if cfg!(target_abi = "eabihf") {
        "nchw on an emulated Cortex-M4F (thumbv7em-none-eabihf)\n"
    } else {
        "nchw on an emulated Cortex-M0 (thumbv6m-none-eabi)\n"
    });
    let mut board = Board {
        passed: 0,
        failed: 0,
        meter: stack::Meter::new(),
        stacks: [("", 0); KERNELS],
        kernels: 0,
    };
    // SAFETY: the only reference to BUFFERS, taken once; there are no interrupts or threads.
    let b = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
    b.init();
    model::forward(&mut board, b);
    #[cfg(not(feature = "panic-free"))]
    reference::check_forward(&mut board, b);
    let w0 = b.params;
    model::backward(&mut board, b);
    #[cfg(not(feature = "panic-free"))]
    reference::check_backward(&mut board, b, &w0);
    let _ = w0;
    model::check_checksums(&mut board, b);
    #[cfg(not(feature = "panic-free"))]
    {
        let features = model::features(&mut board, b);
        reference::check_features(&mut board, &features);
    }
    // Pooling around the stride-2 kernels: not the network, so not in its flash share.
    #[cfg(not(any(feature = "panic-free", feature = "network-only")))]
    pooling::check(&mut board);
    #[cfg(not(feature = "network-only"))]
    bad_args::check(&mut board);
    // SAFETY: the only reference to INT8, taken once.
    let int8_buffers = unsafe { &mut *core::ptr::addr_of_mut!(INT8) };
    #[cfg(not(feature = "panic-free"))]
    int8::run(&mut board, int8_buffers, int8_reference::check);
    #[cfg(feature = "panic-free")]
    int8::run(&mut board, int8_buffers, |_, _, _| {});

    // The same network, trained for a few steps (the buffers start over).
    #[cfg(not(feature = "panic-free"))]
    match demo::train(b) {
        Ok((first, last)) => board.check("training lowers the loss", last < first),
        Err(kernel) => {
            write_str("training stopped: ");
            write_str(kernel);
            write_str(" failed\n");
            board.check("training runs", false);
        }
    }

    if cfg!(feature = "report") {
        // What measuring costs: the stack of a call that does nothing.
        let (_, overhead) = board.meter.measure(|| kernel_call(|| Ok(())));
        write_str("stack used by each kernel call (bytes, including ");
        write_u32(overhead as u32, 0);
        write_str(" of measuring overhead):\n");
        for (name, used) in board.stacks.iter().take(board.kernels) {
            write_str("  ");
            write_str(name);
            for _ in name.len()..34 {
                semihosting::write_byte(b' ');
            }
            write_u32(*used as u32, 5);
            write_str("\n");
        }
    }
    write_str("checks: ");
    write_u32(board.passed, 0);
    write_str(" passed, ");
    write_u32(board.failed, 0);
    write_str(" failed\n");
    let peak = board.meter.peak();
    write_str("flash used: ");
    write_u32(flash_used() as u32, 0);
    write_str(" bytes; peak stack: ");
    write_u32(peak as u32, 0);
    write_str(" of ");
    write_u32(stack::size() as u32, 0);
    write_str(" bytes\n");
    board.failed
}
