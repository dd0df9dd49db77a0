//! Picks the memory map for the target's board and hands `link.x` to the linker.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let memory = match target.as_str() {
        // MPS2 AN386 (Cortex-M4F): 4 MiB ZBT SSRAM1 at 0 holds the code, SSRAM2/3 at
        // 0x2000_0000 the data. Both are cut to a typical Cortex-M4F part's budget so the
        // link proves fit: 512 KiB of flash (an STM32F411's; the test firmware, every kernel
        // and check, needs more than 256 KiB at opt-level 3, 113 KiB at s) and 64 KiB of RAM.
        "thumbv7em-none-eabihf" => {
            "FLASH : ORIGIN = 0x00000000, LENGTH = 512K\n  RAM : ORIGIN = 0x20000000, LENGTH = 64K"
        }
        // BBC micro:bit, nRF51822 (Cortex-M0): 256 KiB flash, 16 KiB RAM.
        "thumbv6m-none-eabi" => {
            "FLASH : ORIGIN = 0x00000000, LENGTH = 256K\n  RAM : ORIGIN = 0x20000000, LENGTH = 16K"
        }
        other => panic!(
            "no memory map for target {other:?}: use thumbv7em-none-eabihf or thumbv6m-none-eabi"
        ),
    };
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(
        out.join("memory.x"),
        format!("MEMORY\n{{\n  {memory}\n}}\n"),
    )
    .expect("write memory.x");
    fs::copy("link.x", out.join("link.x")).expect("copy link.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=--nmagic");
    println!("cargo:rerun-if-changed=link.x");
    println!("cargo:rerun-if-changed=build.rs");
}
