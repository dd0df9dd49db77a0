//! The firmware test's linker script (`../firmware/link.x`) with a larger memory map: the
//! full-workspace runs need more RAM than a typical MCU has, which the emulated board has.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    assert!(
        target == "thumbv7em-none-eabihf" || target == "thumbv6m-none-eabi",
        "the bench runs on the Cortex-M4F and the Cortex-M0 only, not {target:?}"
    );
    // MPS2 AN386: 4 MiB ZBT SSRAM1 at 0 for the code, 4 MiB SSRAM2/3 at 0x2000_0000.
    let memory = "MEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 1M\n  \
                  RAM : ORIGIN = 0x20000000, LENGTH = 1M\n}\n";
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    fs::copy("../firmware/link.x", out.join("link.x")).expect("copy link.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=--nmagic");
    println!("cargo:rerun-if-changed=../firmware/link.x");
    println!("cargo:rerun-if-changed=build.rs");
}
