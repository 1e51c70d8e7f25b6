//! `readable_copy` on Windows: `ReadProcessMemory` on our own process fails (or stops
//! short) on an address that is not readable instead of faulting, as `write(2)` into a
//! pipe reports EFAULT on Unix (`ffi/token.rs`), so no pointer an application passes,
//! however wrong, can crash the host.

use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
use windows_sys::Win32::System::Threading::GetCurrentProcess;

/// Copies up to `len` bytes from `addr`, stopping at the first page that is not
/// readable. Reads 4096-byte-aligned pieces, which never straddle a page.
pub(crate) fn readable_copy(addr: usize, len: usize) -> Vec<u8> {
    const PIECE: usize = 4096;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let at = addr.wrapping_add(out.len());
        let piece = (len - out.len()).min(PIECE - at % PIECE);
        let start = out.len();
        out.resize(start + piece, 0);
        let mut read = 0usize;
        // SAFETY: the pseudo-handle of our own process needs no closing; the kernel reads
        // `piece` bytes at `at` and reports an unreadable address as a failure; `out` has
        // room for `piece` bytes at `start`.
        let ok = unsafe {
            ReadProcessMemory(GetCurrentProcess(), at as *const _, out[start..].as_mut_ptr().cast(), piece, &mut read)
        };
        let read = if ok != 0 { read.min(piece) } else { 0 };
        out.truncate(start + read);
        if read < piece {
            break;
        }
    }
    out
}
