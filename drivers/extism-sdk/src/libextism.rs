//! libextism, the C API of Extism's runtime, loaded at run time
//! (`dlopen`): the library every other Extism SDK wraps (Python's through
//! cffi, the reference study's Elixir SDK through a NIF), in its newest
//! release, which ships prebuilt in the `extism-sys` wheel. Its functions
//! are called as a C host calls them: `extism_plugin_new` from a JSON
//! manifest, `extism_plugin_call`, `extism_plugin_output_data`.

use std::ffi::{CStr, CString, c_char, c_void};

type PluginNew = unsafe extern "C" fn(
    *const u8,
    u64,
    *const *const c_void,
    u64,
    bool,
    *mut *mut c_char,
) -> *mut c_void;
type CompiledNew = PluginNew;
type FromCompiled = unsafe extern "C" fn(*const c_void, *mut *mut c_char) -> *mut c_void;
type Call = unsafe extern "C" fn(*mut c_void, *const c_char, *const u8, u64) -> i32;
type OutLen = unsafe extern "C" fn(*mut c_void) -> u64;
type OutData = unsafe extern "C" fn(*mut c_void) -> *const u8;
type ErrorOf = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type Free = unsafe extern "C" fn(*mut c_void);
type ErrFree = unsafe extern "C" fn(*mut c_char);
type Version = unsafe extern "C" fn() -> *const c_char;

/// The library's functions, looked up once.
pub struct Lib {
    plugin_new: PluginNew,
    compiled_new: CompiledNew,
    from_compiled: FromCompiled,
    call: Call,
    output_length: OutLen,
    output_data: OutData,
    error: ErrorOf,
    plugin_free: Free,
    compiled_free: Free,
    error_free: ErrFree,
    /// `extism_version()`.
    pub version: String,
}

impl Lib {
    /// Loads the library at `path`; fails naming what is missing.
    pub fn load(path: &str) -> Result<&'static Lib, String> {
        let c = CString::new(path).map_err(|_| format!("{path}: a NUL in the path"))?;
        // SAFETY: dlopen takes a NUL-terminated path; the handle is kept
        // for the life of the process (never closed), so every symbol
        // looked up from it stays valid.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a NUL-terminated message or null.
            let why = unsafe { libc::dlerror() };
            let why = if why.is_null() {
                "unknown".to_owned()
            } else {
                // SAFETY: non-null, NUL-terminated, owned by libc.
                unsafe { CStr::from_ptr(why) }
                    .to_string_lossy()
                    .into_owned()
            };
            return Err(format!("cannot load {path}: {why}"));
        }
        let sym = |name: &str| -> Result<*mut c_void, String> {
            let n = CString::new(name).expect("no NUL in a symbol name");
            // SAFETY: a valid handle and a NUL-terminated name.
            let p = unsafe { libc::dlsym(handle, n.as_ptr()) };
            if p.is_null() {
                Err(format!("{path} has no {name}: not libextism"))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol is the C function of that name in Extism's
        // public C API (extism.h), whose signature the type spells out.
        unsafe {
            let version: Version = std::mem::transmute(sym("extism_version")?);
            let lib = Lib {
                plugin_new: std::mem::transmute::<*mut c_void, PluginNew>(sym(
                    "extism_plugin_new",
                )?),
                compiled_new: std::mem::transmute::<*mut c_void, CompiledNew>(sym(
                    "extism_compiled_plugin_new",
                )?),
                from_compiled: std::mem::transmute::<*mut c_void, FromCompiled>(sym(
                    "extism_plugin_new_from_compiled",
                )?),
                call: std::mem::transmute::<*mut c_void, Call>(sym("extism_plugin_call")?),
                output_length: std::mem::transmute::<*mut c_void, OutLen>(sym(
                    "extism_plugin_output_length",
                )?),
                output_data: std::mem::transmute::<*mut c_void, OutData>(sym(
                    "extism_plugin_output_data",
                )?),
                error: std::mem::transmute::<*mut c_void, ErrorOf>(sym("extism_plugin_error")?),
                plugin_free: std::mem::transmute::<*mut c_void, Free>(sym("extism_plugin_free")?),
                compiled_free: std::mem::transmute::<*mut c_void, Free>(sym(
                    "extism_compiled_plugin_free",
                )?),
                error_free: std::mem::transmute::<*mut c_void, ErrFree>(sym(
                    "extism_plugin_new_error_free",
                )?),
                version: CStr::from_ptr(version()).to_string_lossy().into_owned(),
            };
            Ok(Box::leak(Box::new(lib)))
        }
    }

    /// The message behind an `errmsg` out-parameter, freed.
    fn take_error(&self, err: *mut c_char) -> String {
        if err.is_null() {
            return "no message".to_owned();
        }
        // SAFETY: libextism set it to a NUL-terminated string it owns,
        // freed by extism_plugin_new_error_free once read.
        let text = unsafe { CStr::from_ptr(err) }
            .to_string_lossy()
            .into_owned();
        unsafe { (self.error_free)(err) };
        text
    }

    /// A plugin from `manifest` (JSON, or a module's bytes).
    pub fn plugin(&'static self, manifest: &[u8], wasi: bool) -> Result<LibPlugin, String> {
        let mut err = std::ptr::null_mut();
        // SAFETY: the manifest pointer and length describe a live slice; no
        // host functions; `err` receives an owned message on failure.
        let p = unsafe {
            (self.plugin_new)(
                manifest.as_ptr(),
                manifest.len() as u64,
                std::ptr::null(),
                0,
                wasi,
                &mut err,
            )
        };
        if p.is_null() {
            return Err(self.take_error(err));
        }
        Ok(LibPlugin { lib: self, p })
    }

    /// A compiled plugin from `manifest`, to make plugins from.
    pub fn compile(&'static self, manifest: &[u8], wasi: bool) -> Result<LibCompiled, String> {
        let mut err = std::ptr::null_mut();
        // SAFETY: as in `plugin`.
        let c = unsafe {
            (self.compiled_new)(
                manifest.as_ptr(),
                manifest.len() as u64,
                std::ptr::null(),
                0,
                wasi,
                &mut err,
            )
        };
        if c.is_null() {
            return Err(self.take_error(err));
        }
        Ok(LibCompiled { lib: self, c })
    }
}

/// A plugin made by libextism, freed when dropped.
pub struct LibPlugin {
    lib: &'static Lib,
    p: *mut c_void,
}

impl LibPlugin {
    /// Calls `export` (NUL-terminated) on `input`; the output stays in
    /// the plugin until the next call.
    pub fn call(&mut self, export: &CStr, input: &[u8]) -> Result<&[u8], String> {
        let lib = self.lib;
        // SAFETY: a live plugin, a NUL-terminated name, a live input slice.
        let rc = unsafe { (lib.call)(self.p, export.as_ptr(), input.as_ptr(), input.len() as u64) };
        if rc != 0 {
            // SAFETY: a live plugin; the message is owned by it.
            let e = unsafe { (lib.error)(self.p) };
            return Err(if e.is_null() {
                format!("extism_plugin_call returned {rc}")
            } else {
                // SAFETY: non-null and NUL-terminated.
                unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
            });
        }
        // SAFETY: the output of the call just made, owned by the plugin and
        // valid until its next call, which needs `&mut self`.
        unsafe {
            let n = (lib.output_length)(self.p) as usize;
            let data = (lib.output_data)(self.p);
            Ok(if n == 0 || data.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(data, n)
            })
        }
    }
}

impl Drop for LibPlugin {
    fn drop(&mut self) {
        // SAFETY: a plugin libextism made, freed once.
        unsafe { (self.lib.plugin_free)(self.p) };
    }
}

/// A compiled plugin made by libextism, freed when dropped.
pub struct LibCompiled {
    lib: &'static Lib,
    c: *mut c_void,
}

impl LibCompiled {
    /// A plugin from it (instantiation only).
    pub fn plugin(&self) -> Result<LibPlugin, String> {
        let mut err = std::ptr::null_mut();
        // SAFETY: a live compiled plugin; `err` as in `Lib::plugin`.
        let p = unsafe { (self.lib.from_compiled)(self.c, &mut err) };
        if p.is_null() {
            return Err(self.lib.take_error(err));
        }
        Ok(LibPlugin { lib: self.lib, p })
    }
}

impl Drop for LibCompiled {
    fn drop(&mut self) {
        // SAFETY: a compiled plugin libextism made, freed once.
        unsafe { (self.lib.compiled_free)(self.c) };
    }
}
