//! Connection attributes read through the raw entry points, narrow or wide as the
//! connection was opened: the two-factor state attributes 0x4000-0x4004.

use odbc_sys::{ConnectionAttribute, Pointer};

use crate::raw::{Charset, Dbc, RawResult, Warnings};

pub const SQL_ATTR_TWO_FACTOR_STATE: i32 = 0x4000;
pub const SQL_ATTR_TWO_FACTOR_METHOD: i32 = 0x4001;
pub const SQL_ATTR_TWO_FACTOR_DESTINATION: i32 = 0x4002;
pub const SQL_ATTR_TWO_FACTOR_SECONDS_LEFT: i32 = 0x4003;
pub const SQL_ATTR_TWO_FACTOR_DESCRIPTION: i32 = 0x4004;

/// A text attribute as read: the text, the length the driver reported (bytes), and the
/// warnings (01004 on truncation).
#[derive(Debug)]
pub struct TextAttr {
    pub text: String,
    pub len_bytes: i32,
    pub warnings: Warnings,
}

impl Dbc<'_> {
    /// SQLGetConnectAttr(W)(attr) into a 32-bit unsigned integer.
    pub fn attr_u32(&self, attr: i32) -> RawResult<u32> {
        let mut value: u32 = 0xdead_beef;
        let mut len = 0i32;
        let ptr = &mut value as *mut u32 as Pointer;
        let rc = unsafe {
            match self.cs {
                Charset::Narrow => {
                    odbc_sys::SQLGetConnectAttr(self.handle(), ConnectionAttribute(attr), ptr, 4, &mut len)
                }
                Charset::Wide => {
                    odbc_sys::SQLGetConnectAttrW(self.handle(), ConnectionAttribute(attr), ptr, 4, &mut len)
                }
            }
        };
        self.check_rc("SQLGetConnectAttr(u32)", rc)?;
        Ok(value)
    }

    /// SQLGetConnectAttr(W)(attr) into a buffer of `buf_bytes` bytes (UTF-8 narrow,
    /// UTF-16 wide; lengths in bytes either way).
    pub fn attr_text(&self, attr: i32, buf_bytes: usize) -> RawResult<TextAttr> {
        let mut len = 0i32;
        match self.cs {
            Charset::Narrow => {
                let mut buf = vec![0xffu8; buf_bytes.max(1)];
                let rc = unsafe {
                    odbc_sys::SQLGetConnectAttr(
                        self.handle(),
                        ConnectionAttribute(attr),
                        buf.as_mut_ptr() as Pointer,
                        buf_bytes as i32,
                        &mut len,
                    )
                };
                let warnings = self.check_rc("SQLGetConnectAttr(text)", rc)?;
                let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
                Ok(TextAttr { text: String::from_utf8_lossy(&buf[..end]).into_owned(), len_bytes: len, warnings })
            }
            Charset::Wide => {
                let mut buf = vec![0xffffu16; (buf_bytes / 2).max(1)];
                let rc = unsafe {
                    odbc_sys::SQLGetConnectAttrW(
                        self.handle(),
                        ConnectionAttribute(attr),
                        buf.as_mut_ptr() as Pointer,
                        buf_bytes as i32,
                        &mut len,
                    )
                };
                let warnings = self.check_rc("SQLGetConnectAttrW(text)", rc)?;
                let end = buf.iter().position(|&u| u == 0).unwrap_or(buf.len());
                Ok(TextAttr { text: String::from_utf16_lossy(&buf[..end]), len_bytes: len, warnings })
            }
        }
    }
}
