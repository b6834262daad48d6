//! Default stack sizes, read from this machine rather than assumed.
//!
//! - Rust `std::thread`: a thread is spawned with `std::thread::spawn` and asks glibc for its
//!   own stack (`pthread_getattr_np` + `pthread_attr_getstacksize`), so what is reported is
//!   what std actually requested (2 MiB unless `RUST_MIN_STACK` says otherwise).
//! - pthread: the default of a fresh attribute object (`pthread_attr_init` +
//!   `pthread_attr_getstacksize`, which glibc derives from the soft `RLIMIT_STACK` at program
//!   start), and the stack of a thread really created with default attributes.
//! - weft green threads: `weft::DEFAULT_STACK_SIZE` (the reservation; pages are committed only
//!   when first touched, which is why the parked-memory probe measures what it really costs).
//!
//! The survey's figures (Rust 2 MB, Java 1 MB, pthread 2 MB, Go 2 KB, Haskell 1 KB,
//! Erlang 233 B) are quoted next to them; the ones for runtimes this lab cannot run are not
//! measured here.

use std::ffi::c_void;
use std::mem::MaybeUninit;

use crate::lab::machine;
use crate::lab::render::format::bytes;
use crate::lab::report::{Cell, NoteKind, SectionReport, Table, Unit};

const MIB: u64 = 1024 * 1024;

/// The survey's figures: implementation, the survey's words, that figure in bytes.
const SURVEY: [(&str, &str, u64); 6] = [
    ("Rust std::thread", "2 MB", 2 * MIB),
    ("Java thread", "1 MB", MIB),
    ("pthread_create (C)", "2 MB", 2 * MIB),
    ("Go goroutine", "2 KB", 2048),
    ("Haskell thread", "1 KB", 1024),
    ("Erlang process", "233 B", 233),
];

/// What this machine says.
#[derive(Debug)]
pub struct StackSizes {
    /// `RUST_MIN_STACK`, if set.
    pub rust_min_stack: Option<String>,
    /// Stack size of a thread spawned by `std::thread::spawn`.
    pub std_thread: Result<u64, String>,
    /// Stack size in a default `pthread_attr_t`.
    pub pthread_default_attr: Result<u64, String>,
    /// Stack size of a thread created by `pthread_create` with default attributes.
    pub pthread_created: Result<u64, String>,
    /// Soft `RLIMIT_STACK` (`Ok(None)`: unlimited).
    pub rlimit_stack: Result<Option<u64>, String>,
    /// `weft::DEFAULT_STACK_SIZE`.
    pub weft_green: u64,
}

/// Reads every default stack size.
pub fn measure() -> StackSizes {
    StackSizes {
        rust_min_stack: std::env::var("RUST_MIN_STACK").ok(),
        std_thread: std::thread::spawn(current_thread_stack_size)
            .join()
            .unwrap_or_else(|_| Err("the probing thread panicked".to_owned())),
        pthread_default_attr: default_attr_stack_size(),
        pthread_created: created_pthread_stack_size(),
        rlimit_stack: machine::rlimit_stack().map_err(|e| e.to_string()),
        weft_green: weft::DEFAULT_STACK_SIZE as u64,
    }
}

/// The calling thread's stack size as glibc reports it.
fn current_thread_stack_size() -> Result<u64, String> {
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `attr` is writable storage for a pthread_attr_t; pthread_getattr_np initialises
    // it on success, and pthread_self() is the calling (live) thread.
    let rc = unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) };
    if rc != 0 {
        return Err(format!("pthread_getattr_np failed (error {rc})"));
    }
    // SAFETY: pthread_getattr_np succeeded, so `attr` is initialised.
    let mut attr = unsafe { attr.assume_init() };
    let size = attr_stack_size(&attr);
    // SAFETY: `attr` was initialised above and is destroyed exactly once.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    size
}

fn attr_stack_size(attr: &libc::pthread_attr_t) -> Result<u64, String> {
    let mut size: libc::size_t = 0;
    // SAFETY: `attr` is an initialised attribute object and `size` a valid out-pointer.
    let rc = unsafe { libc::pthread_attr_getstacksize(attr, &mut size) };
    if rc != 0 {
        return Err(format!("pthread_attr_getstacksize failed (error {rc})"));
    }
    Ok(size as u64)
}

fn default_attr_stack_size() -> Result<u64, String> {
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `attr` is writable storage; pthread_attr_init initialises it on success.
    let rc = unsafe { libc::pthread_attr_init(attr.as_mut_ptr()) };
    if rc != 0 {
        return Err(format!("pthread_attr_init failed (error {rc})"));
    }
    // SAFETY: pthread_attr_init succeeded, so `attr` is initialised.
    let mut attr = unsafe { attr.assume_init() };
    let size = attr_stack_size(&attr);
    // SAFETY: `attr` was initialised above and is destroyed exactly once.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    size
}

extern "C" fn report_own_stack(out: *mut c_void) -> *mut c_void {
    let size = current_thread_stack_size().unwrap_or(0);
    // SAFETY: `out` points to the u64 of `created_pthread_stack_size`, which outlives this
    // thread (it is joined before the u64 is read) and is written by no one else meanwhile.
    unsafe { out.cast::<u64>().write(size) };
    std::ptr::null_mut()
}

fn created_pthread_stack_size() -> Result<u64, String> {
    let mut size: u64 = 0;
    let mut thread = MaybeUninit::<libc::pthread_t>::uninit();
    // SAFETY: `thread` is writable storage for the id; a null attr means default attributes;
    // `report_own_stack` has the C signature pthread_create expects, and its argument points
    // to `size`, which stays alive until the thread is joined below.
    let rc = unsafe {
        libc::pthread_create(
            thread.as_mut_ptr(),
            std::ptr::null(),
            report_own_stack,
            (&mut size as *mut u64).cast(),
        )
    };
    if rc != 0 {
        return Err(format!("pthread_create failed (error {rc})"));
    }
    // SAFETY: pthread_create succeeded, so `thread` holds a joinable thread's id, joined once.
    let rc = unsafe { libc::pthread_join(thread.assume_init(), std::ptr::null_mut()) };
    if rc != 0 {
        return Err(format!("pthread_join failed (error {rc})"));
    }
    if size == 0 {
        return Err("the thread could not read its own stack size".to_owned());
    }
    Ok(size)
}

/// Adds the stack-size table and its notes.
pub fn report(s: &StackSizes, out: &mut SectionReport) {
    let mut table = Table::new(
        "stack_sizes",
        "Default stack sizes",
        "Survey figures are quoted (as the survey wrote them). \"here\" is read on this machine \
         in this run; rows without a figure here are quoted, not measured here (this lab runs no \
         JVM, Go, GHC or BEAM).",
    )
    .column("implementation", "implementation", Unit::Text)
    .column("survey", "survey says (quoted)", Unit::Text)
    .column("here", "here", Unit::Bytes)
    .column("how", "how it was obtained", Unit::Text);
    let cell = |r: &Result<u64, String>| match r {
        Ok(v) => Cell::from(*v as f64),
        Err(_) => Cell::Empty,
    };
    let how = |what: &str, r: &Result<u64, String>| match r {
        Ok(_) => what.to_owned(),
        Err(e) => format!("{what}: {e}"),
    };
    let min_stack = match &s.rust_min_stack {
        Some(v) => format!("RUST_MIN_STACK={v}"),
        None => "RUST_MIN_STACK unset".to_owned(),
    };
    table.push(vec![
        SURVEY[0].0.into(),
        SURVEY[0].1.into(),
        cell(&s.std_thread),
        how(
            &format!("a spawned std::thread's own stack (pthread_getattr_np); {min_stack}"),
            &s.std_thread,
        )
        .into(),
    ]);
    table.push(vec![
        SURVEY[2].0.into(),
        SURVEY[2].1.into(),
        cell(&s.pthread_created),
        how(
            "a thread created with default attributes, its own stack (pthread_getattr_np)",
            &s.pthread_created,
        )
        .into(),
    ]);
    table.push(vec![
        "pthread default attributes".into(),
        Cell::Empty,
        cell(&s.pthread_default_attr),
        how(
            "pthread_attr_init + pthread_attr_getstacksize",
            &s.pthread_default_attr,
        )
        .into(),
    ]);
    let rlimit_cell = match &s.rlimit_stack {
        Ok(Some(v)) => Cell::from(*v as f64),
        Ok(None) => "unlimited".into(),
        Err(_) => Cell::Empty,
    };
    table.push(vec![
        "RLIMIT_STACK (ulimit -s), soft".into(),
        Cell::Empty,
        rlimit_cell,
        match &s.rlimit_stack {
            Ok(_) => "getrlimit(RLIMIT_STACK)".to_owned(),
            Err(e) => format!("getrlimit(RLIMIT_STACK): {e}"),
        }
        .into(),
    ]);
    table.push(vec![
        "weft green thread".into(),
        Cell::Empty,
        Cell::from(s.weft_green as f64),
        "weft::DEFAULT_STACK_SIZE: reserved per thread, committed page by page on first touch"
            .into(),
    ]);
    for (name, says, _) in &SURVEY[1..2] {
        table.push(vec![
            (*name).into(),
            (*says).into(),
            Cell::Empty,
            "quoted, not measured here".into(),
        ]);
    }
    for (name, says, _) in &SURVEY[3..] {
        table.push(vec![
            (*name).into(),
            (*says).into(),
            Cell::Empty,
            "quoted, not measured here".into(),
        ]);
    }
    out.tables.push(table);

    // Rust std::thread.
    if let Ok(here) = s.std_thread {
        let survey = SURVEY[0].2;
        let text = format!(
            "Rust std::thread default stack: {} here ({min_stack}); the survey says {}.",
            bytes(here as f64),
            SURVEY[0].1
        );
        let kind = if close(here, survey) {
            NoteKind::Agrees
        } else {
            NoteKind::Disagrees
        };
        out.note(kind, text);
    }
    // pthread.
    if let Ok(here) = s.pthread_created {
        let survey = SURVEY[2].2;
        let limit = match &s.rlimit_stack {
            Ok(Some(v)) => format!(
                "the soft RLIMIT_STACK (`ulimit -s`) is {} here",
                bytes(*v as f64)
            ),
            Ok(None) => "RLIMIT_STACK is unlimited here".to_owned(),
            Err(_) => "RLIMIT_STACK could not be read".to_owned(),
        };
        if close(here, survey) {
            out.note(
                NoteKind::Agrees,
                format!(
                    "pthread_create's default stack is {} here, as the survey says ({limit}).",
                    bytes(here as f64)
                ),
            );
        } else {
            out.note(
                NoteKind::Disagrees,
                format!(
                    "pthread_create's default stack is {} here, not {}: glibc takes the default from \
                     the soft RLIMIT_STACK at program start when it is not unlimited, and {limit}. \
                     Rust ignores it and asks for its own {}.",
                    bytes(here as f64),
                    SURVEY[2].1,
                    s.std_thread.as_ref().map_or("size".to_owned(), |v| bytes(*v as f64)),
                ),
            );
        }
    }
    out.note(
        NoteKind::Info,
        "The survey's Erlang figure is a unit slip: the Erlang efficiency guide it cites gives a \
         new process's heap (which holds its stack) as 233 words, not bytes (quoted, not measured \
         here).",
    );
    out.note(
        NoteKind::Info,
        format!(
            "A weft green thread reserves {} of address space for its stack (the survey quotes 2 KB \
             for Go, 1 KB for Haskell, 233 B for Erlang); the kernel commits its pages only when \
             they are first touched, so what a parked green thread really costs is measured below.",
            bytes(s.weft_green as f64)
        ),
    );
}

/// Within 5 % (the survey rounds; "2 MB" may be 2 000 000 or 2 MiB).
fn close(here: u64, survey: u64) -> bool {
    let (h, s) = (here as f64, survey as f64);
    (h - s).abs() <= 0.05 * s
}
