//! The Windows certificate store as a trust source: with no `CAFile`, the driver trusts
//! the certificates of the "ROOT" system store (the user's and the machine's trusted root
//! CAs, as Windows programs do), where on Unix it reads the distribution's CA bundle
//! (`conn/tls.rs`). Read through crypt32 directly: rustls-native-certs does the same
//! through the schannel crate, and the driver needs nothing else from either.

use rustls::pki_types::CertificateDer;
use windows_sys::Win32::Security::Cryptography::{
    CertCloseStore, CertEnumCertificatesInStore, CertOpenSystemStoreW, CERT_CONTEXT, X509_ASN_ENCODING,
};

/// The DER certificates of the ROOT system store (empty when it cannot be opened).
pub(crate) fn root_certificates() -> Vec<CertificateDer<'static>> {
    let name: Vec<u16> = "ROOT".encode_utf16().chain(Some(0)).collect();
    // SAFETY: `name` is a NUL-terminated UTF-16 string; no provider handle (0) is passed.
    let store = unsafe { CertOpenSystemStoreW(0, name.as_ptr()) };
    if store.is_null() {
        log::warn!("the Windows ROOT certificate store cannot be opened");
        return Vec::new();
    }
    let mut certificates = Vec::new();
    let mut context: *const CERT_CONTEXT = std::ptr::null();
    loop {
        // SAFETY: `store` is open; `context` is null or the previous context of this
        // enumeration, which the call frees and replaces.
        context = unsafe { CertEnumCertificatesInStore(store, context) };
        if context.is_null() {
            break;
        }
        // SAFETY: a non-null context from the enumeration is valid until the next call;
        // its encoded bytes are `cbCertEncoded` long. They are copied out at once.
        let (encoding, bytes) = unsafe {
            let c = &*context;
            (c.dwCertEncodingType, std::slice::from_raw_parts(c.pbCertEncoded, c.cbCertEncoded as usize))
        };
        if encoding & X509_ASN_ENCODING != 0 {
            certificates.push(CertificateDer::from(bytes.to_vec()));
        }
    }
    // SAFETY: the enumeration ended (it freed its last context); the store is ours.
    unsafe { CertCloseStore(store, 0) };
    certificates
}
