//! Buffers handed to the driver, each ending at an inaccessible page, so that a read or
//! write past its end is a SIGSEGV the harness sees rather than silent corruption.
//! They are made in the forked child and never freed (the child exits).

use std::ptr::null_mut;

fn page_size() -> usize {
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

fn map(len: usize, flags: libc::c_int) -> *mut u8 {
    let p = unsafe { libc::mmap(null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
    assert!(p != libc::MAP_FAILED, "mmap of {len} bytes failed");
    p.cast()
}

/// `len` writable bytes (filled with `fill`) immediately followed by a guard page.
pub fn guarded(len: usize, fill: u8) -> *mut u8 {
    let page = page_size();
    let body = len.div_ceil(page).max(1) * page;
    let base = map(body + page, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS);
    unsafe {
        assert_eq!(libc::mprotect(base.add(body).cast(), page, libc::PROT_NONE), 0);
        let start = base.add(body - len);
        std::ptr::write_bytes(start, fill, len);
        start
    }
}

/// `bytes` copied into a guarded buffer (an input the driver must not read past).
pub fn guarded_copy(bytes: &[u8]) -> *mut u8 {
    let p = guarded(bytes.len(), 0);
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    p
}

/// Room behind an input string: a declared length up to this many bytes is honest (the
/// bytes after the string are zeros), so a driver that reads what it was told to read
/// never faults. Mapped lazily and read-only: it costs no memory and is not counted in
/// RLIMIT_DATA.
pub const LARGE_INPUT_BYTES: usize = 1 << 32;

/// `bytes` at `offset` of a read-only region of LARGE_INPUT_BYTES zero bytes.
pub fn large_input(bytes: &[u8], offset: usize) -> *mut u8 {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    let base = unsafe { libc::mmap(null_mut(), LARGE_INPUT_BYTES, libc::PROT_READ, flags, -1, 0) };
    assert!(base != libc::MAP_FAILED, "mmap of the large input region failed");
    let base = base.cast::<u8>();
    // Only the pages that hold the bytes are ever writable (RLIMIT_DATA counts those).
    let page = page_size();
    let written = (offset + bytes.len()).div_ceil(page) * page;
    unsafe {
        assert_eq!(libc::mprotect(base.cast(), written, libc::PROT_READ | libc::PROT_WRITE), 0);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(offset), bytes.len());
        assert_eq!(libc::mprotect(base.cast(), written, libc::PROT_READ), 0);
        base.add(offset)
    }
}
