//! `ok!`: unwraps a geometry at compile time, so a bad one is a build error, not a runtime
//! panic. Every module's `const` geometries use it (the host test includes the modules too).

macro_rules! ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(_) => panic!(concat!("bad geometry: ", stringify!($e))),
        }
    };
}
