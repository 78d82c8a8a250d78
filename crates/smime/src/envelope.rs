//! The CMS layer: EnvelopedData (AES-256-CBC, RSA PKCS#1 v1.5) through the openssl crate's
//! safe API; AuthEnvelopedData (AES-256-GCM, RSA-OAEP) through the same calls `openssl cms
//! -encrypt -aes-256-gcm -keyopt rsa_padding_mode:oaep` makes, which the safe API lacks.

use std::ffi::{c_int, c_uint, c_void};
use std::ptr;

use foreign_types::ForeignType;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;

use crate::error::{Error, Result};

/// How strongly to encrypt: pick [`Strength::Modern`] only when every recipient's client is
/// known to read it (an S/MIME capabilities attribute, or configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strength {
    /// EnvelopedData, AES-256-CBC, RSA PKCS#1 v1.5 key transport: readable everywhere,
    /// including gpgsm 2.2.
    #[default]
    Compatible,
    /// AuthEnvelopedData, AES-256-GCM, RSA-OAEP with SHA-256 and MGF1-SHA-256: authenticated
    /// content encryption and no PKCS#1 v1.5 padding oracle. Needs OpenSSL 3.0+.
    Modern,
}

impl Strength {
    /// The `smime-type` parameter of the outer Content-Type (RFC 8551 §3.2.2).
    pub(crate) fn smime_type(self) -> &'static str {
        match self {
            Self::Compatible => "enveloped-data",
            Self::Modern => "authEnveloped-data",
        }
    }
}

/// Encrypts `content` to every certificate, one RecipientInfo each; returns the DER
/// ContentInfo.
pub(crate) fn envelop(content: &[u8], certs: &[&X509], strength: Strength) -> Result<Vec<u8>> {
    match strength {
        Strength::Compatible => {
            let mut stack = Stack::new()?;
            for cert in certs {
                stack.push((*cert).clone())?;
            }
            // BINARY: the content is already canonical CRLF MIME; no translation.
            let cms = CmsContentInfo::encrypt(&stack, content, Cipher::aes_256_cbc(), CMSOptions::BINARY)?;
            Ok(cms.to_der()?)
        }
        Strength::Modern => envelop_modern(content, certs),
    }
}

fn envelop_modern(content: &[u8], certs: &[&X509]) -> Result<Vec<u8>> {
    // OpenSSL 1.1 would build EnvelopedData with a GCM OID that nobody can read.
    if openssl::version::number() < 0x3000_0000 {
        return Err(Error::Unsupported("AES-256-GCM AuthEnvelopedData", openssl::version::version()));
    }
    let len = c_int::try_from(content.len()).map_err(|_| Error::Message("message too large"))?;
    // PARTIAL: an empty AuthEnvelopedData; recipients are added below with OAEP parameters,
    // then CMS_final encrypts the content.
    let no_certs = Stack::<X509>::new()?;
    let cms = CmsContentInfo::encrypt(&no_certs, &[], Cipher::aes_256_gcm(), CMSOptions::BINARY | CMSOptions::PARTIAL)?;
    // SAFETY: `cms` and each certificate are live for the whole block; the RecipientInfo and
    // its EVP_PKEY_CTX are owned by `cms` (get0), not freed here; the memory BIO only borrows
    // `content` and is freed before `content` goes out of scope.
    unsafe {
        for cert in certs {
            let ri = ffi::CMS_add1_recipient_cert(cms.as_ptr(), cert.as_ptr(), openssl_sys::CMS_KEY_PARAM);
            if ri.is_null() {
                return Err(ErrorStack::get().into());
            }
            let pctx = ffi::CMS_RecipientInfo_get0_pkey_ctx(ri);
            if pctx.is_null() {
                return Err(ErrorStack::get().into());
            }
            let sha256 = openssl_sys::EVP_sha256();
            cvt(openssl_sys::EVP_PKEY_CTX_set_rsa_padding(pctx, openssl_sys::RSA_PKCS1_OAEP_PADDING))?;
            cvt(openssl_sys::EVP_PKEY_CTX_set_rsa_oaep_md(pctx, sha256 as *mut _))?;
            cvt(openssl_sys::EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, sha256 as *mut _))?;
        }
        let bio = openssl_sys::BIO_new_mem_buf(content.as_ptr().cast::<c_void>(), len);
        if bio.is_null() {
            return Err(ErrorStack::get().into());
        }
        let finished = ffi::CMS_final(cms.as_ptr(), bio, ptr::null_mut(), openssl_sys::CMS_BINARY);
        openssl_sys::BIO_free_all(bio);
        cvt(finished)?;
    }
    Ok(cms.to_der()?)
}

fn cvt(r: c_int) -> Result<(), ErrorStack> {
    if r <= 0 { Err(ErrorStack::get()) } else { Ok(()) }
}

/// libcrypto functions openssl-sys 0.9 does not declare (present since OpenSSL 1.0.2).
mod ffi {
    use super::*;
    use openssl_sys::{BIO, CMS_ContentInfo, EVP_PKEY_CTX, X509 as RawX509};

    #[allow(non_camel_case_types)]
    pub(super) enum CMS_RecipientInfo {}

    unsafe extern "C" {
        pub(super) fn CMS_add1_recipient_cert(
            cms: *mut CMS_ContentInfo,
            recip: *mut RawX509,
            flags: c_uint,
        ) -> *mut CMS_RecipientInfo;
        pub(super) fn CMS_RecipientInfo_get0_pkey_ctx(ri: *mut CMS_RecipientInfo) -> *mut EVP_PKEY_CTX;
        pub(super) fn CMS_final(cms: *mut CMS_ContentInfo, data: *mut BIO, dcont: *mut BIO, flags: c_uint) -> c_int;
    }
}
